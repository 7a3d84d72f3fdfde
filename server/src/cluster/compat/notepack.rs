//! MessagePack as socket.io's `notepack.io` writes and reads it, and its
//! conversion to and from Socket.IO packet data (JSON text plus binary
//! attachments). Sans-IO: bytes in, values out.
//!
//! Reference: `e2e/peers/captures/socketio-adapter-8.md` ("Several arguments and
//! value types", "Broadcast with binary attachments"), notepack.io 3.0.1:
//!
//! ```text
//! JS value            notepack 3 writes            we read it as (JSON)
//! null, undefined     c0 (nil)                     null
//! true / false        c3 / c2                      true / false
//! integer number      smallest int: 2a, f9 (-7),   the integer
//!                     cc…cf, d0…d3 (4294967296 =
//!                     cf 00000001 00000000)
//! other number        cb float64 (3.5)             the number; NaN/±Infinity → null
//! string              fixstr / d9 / da / db        the string (bad UTF-8 → U+FFFD when read)
//! Buffer              c4 / c5 / c6 (bin)           {"_placeholder":true,"num":i} + attachment i
//! Date                timestamp ext −1 (d6 ff,     its ISO-8601 string, as JSON.stringify(Date):
//!                     d7 ff, c7 0c ff)             "2024-01-02T03:04:05.678Z" (null if out of range)
//! Array / Object      array / map (string keys)    array / object (key order kept)
//! ```
//!
//! Also read: `d4 00 00`, notepack 2's `undefined` (Sails' @sailshq/socket.io-redis
//! 6.1 uses notepack 2.2.0) → null; non-string map keys become strings as JS
//! object keys do (`1` → `"1"`). Any other extension type is an error
//! ([`NotepackError::UnsupportedExt`]): no capture shows one in Socket.IO data,
//! and it has no JSON form a client would expect.
//!
//! Placeholders are numbered in depth-first order, as socket.io-parser's
//! `deconstructPacket` numbers them, so the JSON and attachments are what a
//! Socket.IO node would send its clients as a BINARY_EVENT.
//!
//! The other direction ([`from_json`]) writes what notepack writes for the same
//! JS value: integral numbers (|n| ≤ 2⁵³, or any JSON integer) as the smallest
//! int, others as float64, placeholders back to bin.
//!
//! Decoding is bounded ([`decode`]): at most [`MAX_DEPTH`] nested containers and
//! [`MAX_ELEMENTS`] values per message, and an announced length is checked
//! against the bytes actually left before anything is read — a forged header
//! announcing 2³² elements or bytes is an error at once, never an allocation.
//! The reader is ours (over a slice, producing [`rmpv::Value`]; writing is
//! `rmpv::encode`) rather than `rmpv::decode::read_value_with_max_depth`,
//! which has no element budget, reads the reserved `0xc1` as nil and only
//! notices a forged length once the input runs out.

use std::collections::HashMap;
use std::fmt;

use bytes::Bytes;
use rmpv::Value;
use serde_json::{Map, Number, Value as Json};

/// Deepest nesting of arrays/maps accepted in one message.
pub(crate) const MAX_DEPTH: usize = 64;
/// Most values (map keys count) accepted in one message.
pub(crate) const MAX_ELEMENTS: usize = 1 << 16;
/// Vectors start at most this big; they grow as elements actually arrive.
const PREALLOC: usize = 16;
/// Largest integer a JS number holds exactly (2⁵³).
const MAX_SAFE: f64 = 9_007_199_254_740_992.0;
/// JS Dates span ±8.64e15 ms around the epoch.
const MAX_DATE_MS: i128 = 8_640_000_000_000_000;

/// Why bytes or a value could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NotepackError {
    /// The input ends inside a value (or announces more than it holds).
    Truncated,
    /// Bytes left after the value.
    TrailingBytes(usize),
    /// More than [`MAX_DEPTH`] nested containers.
    TooDeep,
    /// More than [`MAX_ELEMENTS`] values.
    TooManyElements,
    /// The marker `0xc1`, never used by MessagePack.
    ReservedMarker,
    /// An extension type notepack's peers do not send (see the module doc).
    UnsupportedExt(i8),
    /// A timestamp extension whose length is not 4, 8 or 12.
    BadTimestamp,
    /// A map key that is itself an array, map, binary or extension.
    BadKey,
    /// A `{"_placeholder":true,"num":n}` with no attachment `n`
    /// (socket.io-parser: "illegal attachments").
    IllegalAttachment,
}

impl fmt::Display for NotepackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("msgpack: truncated"),
            Self::TrailingBytes(n) => write!(f, "msgpack: {n} bytes after the value"),
            Self::TooDeep => write!(f, "msgpack: nested deeper than {MAX_DEPTH}"),
            Self::TooManyElements => write!(f, "msgpack: more than {MAX_ELEMENTS} values"),
            Self::ReservedMarker => f.write_str("msgpack: reserved marker 0xc1"),
            Self::UnsupportedExt(t) => write!(f, "msgpack: unsupported extension type {t}"),
            Self::BadTimestamp => f.write_str("msgpack: timestamp of a bad length"),
            Self::BadKey => f.write_str("msgpack: map key not a string or scalar"),
            Self::IllegalAttachment => f.write_str("illegal attachments"),
        }
    }
}

/// Decodes exactly one value filling `bytes` (bounded; see the module doc).
///
/// # Errors
///
/// Truncated or trailing input, limits exceeded, the reserved marker.
pub(crate) fn decode(bytes: &[u8]) -> Result<Value, NotepackError> {
    let mut r = Reader {
        buf: bytes,
        pos: 0,
        budget: MAX_ELEMENTS,
    };
    let v = r.value(0)?;
    match bytes.len() - r.pos {
        0 => Ok(v),
        n => Err(NotepackError::TrailingBytes(n)),
    }
}

/// Encodes a value as notepack does (smallest int and length forms, float64,
/// bin for binary, fixext for extensions of 1, 2, 4, 8, 16 bytes).
pub(crate) fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, value);
    out
}

/// A cursor over one message, with the element budget of the whole message.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    budget: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], NotepackError> {
        if n > self.left() {
            return Err(NotepackError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], NotepackError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, NotepackError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<usize, NotepackError> {
        Ok(usize::from(u16::from_be_bytes(self.array()?)))
    }

    fn u32(&mut self) -> Result<usize, NotepackError> {
        usize::try_from(u32::from_be_bytes(self.array()?)).map_err(|_| NotepackError::Truncated)
    }

    fn value(&mut self, depth: usize) -> Result<Value, NotepackError> {
        if self.budget == 0 {
            return Err(NotepackError::TooManyElements);
        }
        self.budget -= 1;
        let m = self.u8()?;
        Ok(match m {
            0x00..=0x7f => Value::from(m),
            0x80..=0x8f => self.map(usize::from(m & 0x0f), depth)?,
            0x90..=0x9f => self.seq(usize::from(m & 0x0f), depth)?,
            0xa0..=0xbf => self.str(usize::from(m & 0x1f))?,
            0xc0 => Value::Nil,
            0xc1 => return Err(NotepackError::ReservedMarker),
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xc4 => {
                let n = usize::from(self.u8()?);
                self.bin(n)?
            }
            0xc5 => {
                let n = self.u16()?;
                self.bin(n)?
            }
            0xc6 => {
                let n = self.u32()?;
                self.bin(n)?
            }
            0xc7 => {
                let n = usize::from(self.u8()?);
                self.ext(n)?
            }
            0xc8 => {
                let n = self.u16()?;
                self.ext(n)?
            }
            0xc9 => {
                let n = self.u32()?;
                self.ext(n)?
            }
            0xca => Value::F32(f32::from_be_bytes(self.array()?)),
            0xcb => Value::F64(f64::from_be_bytes(self.array()?)),
            0xcc => Value::from(self.u8()?),
            0xcd => Value::from(u16::from_be_bytes(self.array()?)),
            0xce => Value::from(u32::from_be_bytes(self.array()?)),
            0xcf => Value::from(u64::from_be_bytes(self.array()?)),
            0xd0 => Value::from(i8::from_be_bytes(self.array()?)),
            0xd1 => Value::from(i16::from_be_bytes(self.array()?)),
            0xd2 => Value::from(i32::from_be_bytes(self.array()?)),
            0xd3 => Value::from(i64::from_be_bytes(self.array()?)),
            0xd4 => self.ext(1)?,
            0xd5 => self.ext(2)?,
            0xd6 => self.ext(4)?,
            0xd7 => self.ext(8)?,
            0xd8 => self.ext(16)?,
            0xd9 => {
                let n = usize::from(self.u8()?);
                self.str(n)?
            }
            0xda => {
                let n = self.u16()?;
                self.str(n)?
            }
            0xdb => {
                let n = self.u32()?;
                self.str(n)?
            }
            0xdc => {
                let n = self.u16()?;
                self.seq(n, depth)?
            }
            0xdd => {
                let n = self.u32()?;
                self.seq(n, depth)?
            }
            0xde => {
                let n = self.u16()?;
                self.map(n, depth)?
            }
            0xdf => {
                let n = self.u32()?;
                self.map(n, depth)?
            }
            0xe0..=0xff => Value::from(i8::from_be_bytes([m])),
        })
    }

    /// A string of `n` bytes (not UTF-8: each bad sequence becomes U+FFFD).
    fn str(&mut self, n: usize) -> Result<Value, NotepackError> {
        let b = self.take(n)?;
        Ok(Value::String(String::from_utf8_lossy(b).as_ref().into()))
    }

    fn bin(&mut self, n: usize) -> Result<Value, NotepackError> {
        Ok(Value::Binary(self.take(n)?.to_vec()))
    }

    fn ext(&mut self, n: usize) -> Result<Value, NotepackError> {
        let [ty] = self.array::<1>()?;
        let data = self.take(n)?;
        Ok(Value::Ext(i8::from_be_bytes([ty]), data.to_vec()))
    }

    fn seq(&mut self, n: usize, depth: usize) -> Result<Value, NotepackError> {
        self.enter(n, 1, depth)?;
        let mut v = Vec::with_capacity(n.min(PREALLOC));
        for _ in 0..n {
            v.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(v))
    }

    fn map(&mut self, n: usize, depth: usize) -> Result<Value, NotepackError> {
        self.enter(n, 2, depth)?;
        let mut v = Vec::with_capacity(n.min(PREALLOC));
        for _ in 0..n {
            let k = self.value(depth + 1)?;
            v.push((k, self.value(depth + 1)?));
        }
        Ok(Value::Map(v))
    }

    /// Checks a container announcing `n` entries of `per` values each against
    /// the bytes and budget left (each value takes at least one byte).
    fn enter(&self, n: usize, per: usize, depth: usize) -> Result<(), NotepackError> {
        if depth >= MAX_DEPTH {
            return Err(NotepackError::TooDeep);
        }
        let need = n.saturating_mul(per);
        if need > self.left() {
            return Err(NotepackError::Truncated);
        }
        if need > self.budget {
            return Err(NotepackError::TooManyElements);
        }
        Ok(())
    }
}

/// Converts a decoded value to Socket.IO packet data: JSON, with every binary
/// replaced by a placeholder and its bytes appended to `attachments`.
///
/// # Errors
///
/// [`NotepackError::UnsupportedExt`], [`NotepackError::BadTimestamp`],
/// [`NotepackError::BadKey`].
pub(crate) fn to_json(value: &Value, attachments: &mut Vec<Bytes>) -> Result<Json, NotepackError> {
    Ok(match value {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => Json::from(u),
            (None, Some(n)) => Json::from(n),
            (None, None) => Json::Null, // unreachable: an rmpv integer is one of both
        },
        Value::F32(f) => number(f64::from(*f)),
        Value::F64(f) => number(*f),
        Value::String(s) => Json::String(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        Value::Binary(b) => {
            let num = attachments.len();
            attachments.push(Bytes::copy_from_slice(b));
            placeholder(num)
        }
        Value::Array(a) => Json::Array(
            a.iter()
                .map(|v| to_json(v, attachments))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(m) => {
            // JS: the last duplicate wins, in the first one's place, and only
            // the winners' binaries become attachments (numbered in the
            // object's order, as socket.io-parser walks it). A value that
            // loses is still checked, as notepack decodes it before dropping it.
            let mut winners: Vec<(String, &Value)> = Vec::with_capacity(m.len());
            let mut at: HashMap<String, usize> = HashMap::with_capacity(m.len());
            for (k, v) in m {
                let k = key(k)?;
                if let Some(&i) = at.get(&k) {
                    to_json(winners[i].1, &mut Vec::new())?;
                    winners[i].1 = v;
                } else {
                    at.insert(k.clone(), winners.len());
                    winners.push((k, v));
                }
            }
            let mut o = Map::new();
            for (k, v) in winners {
                o.insert(k, to_json(v, attachments)?);
            }
            Json::Object(o)
        }
        Value::Ext(-1, data) => timestamp(data)?,
        Value::Ext(0, data) if data.as_slice() == [0] => Json::Null,
        Value::Ext(t, _) => return Err(NotepackError::UnsupportedExt(*t)),
    })
}

/// A Socket.IO binary placeholder.
fn placeholder(num: usize) -> Json {
    let mut o = Map::new();
    o.insert("_placeholder".into(), Json::Bool(true));
    o.insert("num".into(), Json::from(num));
    Json::Object(o)
}

/// A JS number as JSON.stringify writes it: integral ones as integers,
/// non-finite ones as null.
fn number(f: f64) -> Json {
    if f.fract() == 0.0 && f.abs() <= MAX_SAFE {
        // Exact: |f| ≤ 2⁵³ and integral.
        #[allow(clippy::cast_possible_truncation)]
        return Json::from(f as i64);
    }
    Number::from_f64(f).map_or(Json::Null, Json::Number)
}

/// A map key as a JS object key (`ToString`).
fn key(k: &Value) -> Result<String, NotepackError> {
    Ok(match k {
        Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        Value::Nil => "null".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(_) | Value::F32(_) | Value::F64(_) => {
            match to_json(k, &mut Vec::new())? {
                Json::Null => "NaN".into(), // JS: String(NaN); ±Infinity are rare enough
                n => n.to_string(),
            }
        }
        Value::Binary(_) | Value::Array(_) | Value::Map(_) | Value::Ext(..) => {
            return Err(NotepackError::BadKey)
        }
    })
}

/// A timestamp extension (−1) as `JSON.stringify(new Date(…))` writes it.
fn timestamp(data: &[u8]) -> Result<Json, NotepackError> {
    let (secs, nanos): (i128, i128) = match data.len() {
        4 => (
            i128::from(u32::from_be_bytes([data[0], data[1], data[2], data[3]])),
            0,
        ),
        8 => {
            let mut b = [0; 8];
            b.copy_from_slice(data);
            let v = u64::from_be_bytes(b);
            (i128::from(v & ((1 << 34) - 1)), i128::from(v >> 34))
        }
        12 => {
            let mut n = [0; 4];
            n.copy_from_slice(&data[..4]);
            let mut s = [0; 8];
            s.copy_from_slice(&data[4..]);
            (
                i128::from(i64::from_be_bytes(s)),
                i128::from(u32::from_be_bytes(n)),
            )
        }
        _ => return Err(NotepackError::BadTimestamp),
    };
    // notepack: new Date(s * 1e3 + ns / 1e6); the Date constructor truncates
    // toward zero.
    let ms = (secs * 1_000_000_000 + nanos) / 1_000_000;
    if ms.abs() > MAX_DATE_MS {
        return Ok(Json::Null); // an Invalid Date: toJSON() gives null
    }
    #[allow(clippy::cast_possible_truncation)] // |ms| ≤ 8.64e15
    Ok(Json::String(iso8601(ms as i64)))
}

/// `Date.prototype.toISOString` for a time value in milliseconds.
pub(crate) fn iso8601(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let year = if (0..=9999).contains(&y) {
        format!("{y:04}")
    } else if y < 0 {
        format!("-{:06}", -y)
    } else {
        format!("+{y:06}")
    };
    format!(
        "{year}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// Converts Socket.IO packet data (JSON with placeholders into
/// `attachments`) to the value notepack would write for it.
///
/// # Errors
///
/// [`NotepackError::IllegalAttachment`] for a placeholder naming no attachment.
pub(crate) fn from_json(json: &Json, attachments: &[Bytes]) -> Result<Value, NotepackError> {
    Ok(match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() == 0.0 && f.abs() <= MAX_SAFE {
                    #[allow(clippy::cast_possible_truncation)] // exact, see `number`
                    Value::from(f as i64)
                } else {
                    Value::F64(f)
                }
            }
        }
        Json::String(s) => Value::String(s.as_str().into()),
        Json::Array(a) => Value::Array(
            a.iter()
                .map(|v| from_json(v, attachments))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(o) => {
            // socket.io-parser's reconstructPacket: `_placeholder === true`.
            if o.get("_placeholder") == Some(&Json::Bool(true)) {
                let b = o
                    .get("num")
                    .and_then(Json::as_u64)
                    .and_then(|n| usize::try_from(n).ok())
                    .and_then(|n| attachments.get(n))
                    .ok_or(NotepackError::IllegalAttachment)?;
                return Ok(Value::Binary(b.to_vec()));
            }
            Value::Map(
                o.iter()
                    .map(|(k, v)| {
                        Ok((Value::String(k.as_str().into()), from_json(v, attachments)?))
                    })
                    .collect::<Result<_, NotepackError>>()?,
            )
        }
    })
}

/// Checks a parsed JSON message against the limits a MessagePack one has
/// (depth, number of values counting keys), so what was accepted as JSON can
/// be re-encoded as MessagePack and read back.
///
/// # Errors
///
/// [`NotepackError::TooDeep`], [`NotepackError::TooManyElements`].
pub(crate) fn check_json(json: &Json) -> Result<(), NotepackError> {
    fn walk(j: &Json, depth: usize, budget: &mut usize) -> Result<(), NotepackError> {
        if *budget == 0 {
            return Err(NotepackError::TooManyElements);
        }
        *budget -= 1;
        match j {
            Json::Array(a) => {
                if depth >= MAX_DEPTH {
                    return Err(NotepackError::TooDeep);
                }
                a.iter().try_for_each(|v| walk(v, depth + 1, budget))
            }
            Json::Object(o) => {
                if depth >= MAX_DEPTH {
                    return Err(NotepackError::TooDeep);
                }
                o.values().try_for_each(|v| {
                    *budget = budget
                        .checked_sub(1)
                        .ok_or(NotepackError::TooManyElements)?;
                    walk(v, depth + 1, budget)
                })
            }
            _ => Ok(()),
        }
    }
    let mut budget = MAX_ELEMENTS;
    walk(json, 0, &mut budget)
}
