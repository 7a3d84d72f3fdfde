//! Engine.IO **polling payloads**: several packets in one HTTP body, sans-IO.
//! The units are the same as over WebSocket — a text packet (`4…`, `2`, `6`,
//! `0{…}`) or a binary message — so a polling response is built from the very
//! frames a WebSocket connection would get (their payloads, unframed), and a
//! POST body decodes to what WebSocket messages would have carried.
//!
//! | version | encoding |
//! |---|---|
//! | v4 | packets joined by the record separator `\x1e`; binary as `b` + base64 (`text/plain; charset=UTF-8`) |
//! | v3, text | each packet as `<length>:<packet>`, the length in UTF-16 code units (JavaScript's `string.length`); binary as `b4` + base64 |
//! | v3, binary | when the client did not ask for base64 (`b64`) and a packet is binary: each packet as a type byte (`0` text, `1` binary), its length as decimal digits one byte each, `0xFF`, then the bytes (text as UTF-8, its length in bytes; binary with its `4` type byte) (`application/octet-stream`) |
//!
//! A v3 binary message is the type byte `4` and the payload (as in a v3
//! WebSocket binary frame); a v4 binary message is the payload alone.

use base64::Engine as _;

use super::packet::EioVersion;

/// The record separator between v4 packets.
pub const SEPARATOR: u8 = 0x1e;

/// `Content-Type` of a text payload.
pub const TEXT_TYPE: &str = "text/plain; charset=UTF-8";
/// `Content-Type` of a v3 binary payload.
pub const BINARY_TYPE: &str = "application/octet-stream";

/// One packet of a payload, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// A text packet (type digit first).
    Text(&'a str),
    /// A binary message (v3: with its `4` type byte).
    Binary(&'a [u8]),
}

/// One packet decoded from a POST body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A text packet, for `Session::handle_text` (a v4 `b…` or v3 `b4…` packet
    /// stays text: the session decodes the base64).
    Text(String),
    /// A binary message, for `Session::handle_binary` (v3: with its type byte).
    Binary(bytes::Bytes),
}

/// An encoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a POST body is not a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// A text payload that is not UTF-8.
    NotUtf8,
    /// An empty body, or an empty packet.
    Empty,
    /// A v3 length prefix that is missing, not a number, or longer than what
    /// follows.
    BadLength,
    /// A v3 binary payload with a type byte other than 0 or 1.
    BadType(u8),
    /// More packets than a body may hold.
    TooManyPackets,
}

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PayloadError::NotUtf8 => f.write_str("the payload is not UTF-8"),
            PayloadError::Empty => f.write_str("empty payload or packet"),
            PayloadError::BadLength => f.write_str("bad packet length in the payload"),
            PayloadError::BadType(t) => write!(f, "bad packet type byte {t} in a binary payload"),
            PayloadError::TooManyPackets => f.write_str("too many packets in one payload"),
        }
    }
}

impl std::error::Error for PayloadError {}

/// Most packets one POST body may hold.
pub const MAX_PACKETS: usize = 10_000;

/// UTF-16 code units of `s` (JavaScript's `length`).
fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Encodes `items` for a client of `version` (`b64`: a v3 client that asked
/// for binary as base64 text).
#[must_use]
pub fn encode(version: EioVersion, b64: bool, items: &[Item<'_>]) -> Encoded {
    let b64_engine = &base64::engine::general_purpose::STANDARD;
    let mut body = Vec::with_capacity(items.iter().map(|i| item_len(i) + 8).sum());
    match version {
        EioVersion::V4 => {
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    body.push(SEPARATOR);
                }
                match item {
                    Item::Text(t) => body.extend_from_slice(t.as_bytes()),
                    Item::Binary(b) => {
                        body.push(b'b');
                        let mut s = String::new();
                        b64_engine.encode_string(b, &mut s);
                        body.extend_from_slice(s.as_bytes());
                    }
                }
            }
            Encoded {
                content_type: TEXT_TYPE,
                body,
            }
        }
        EioVersion::V3 if !b64 && items.iter().any(|i| matches!(i, Item::Binary(_))) => {
            for item in items {
                let (kind, bytes) = match item {
                    Item::Text(t) => (0u8, t.as_bytes()),
                    Item::Binary(b) => (1u8, *b),
                };
                body.push(kind);
                body.extend(bytes.len().to_string().bytes().map(|d| d - b'0'));
                body.push(0xff);
                body.extend_from_slice(bytes);
            }
            Encoded {
                content_type: BINARY_TYPE,
                body,
            }
        }
        EioVersion::V3 => {
            for item in items {
                let text;
                let t: &str = match item {
                    Item::Text(t) => t,
                    Item::Binary(b) => {
                        // `b` + the type digit + base64 of the rest.
                        let (ty, rest) = b.split_first().map_or((b'4', &[][..]), |(t, r)| (*t, r));
                        let mut s = String::from("b");
                        s.push(char::from(if ty < 10 { b'0' + ty } else { b'4' }));
                        b64_engine.encode_string(rest, &mut s);
                        text = s;
                        &text
                    }
                };
                body.extend_from_slice(utf16_len(t).to_string().as_bytes());
                body.push(b':');
                body.extend_from_slice(t.as_bytes());
            }
            Encoded {
                content_type: TEXT_TYPE,
                body,
            }
        }
    }
}

fn item_len(i: &Item<'_>) -> usize {
    match i {
        Item::Text(t) => t.len(),
        Item::Binary(b) => b.len() * 4 / 3 + 4,
    }
}

/// Decodes a POST body from a client of `version`; `binary` when its
/// `Content-Type` is `application/octet-stream` (v3 binary payload).
///
/// # Errors
///
/// [`PayloadError`] naming the first problem; nothing of the body is used then.
pub fn decode(
    version: EioVersion,
    binary: bool,
    body: &[u8],
) -> Result<Vec<Inbound>, PayloadError> {
    if body.is_empty() {
        return Err(PayloadError::Empty);
    }
    if version == EioVersion::V3 && binary {
        return decode_v3_binary(body);
    }
    let text = std::str::from_utf8(body).map_err(|_| PayloadError::NotUtf8)?;
    let mut out = Vec::new();
    match version {
        EioVersion::V4 => {
            for p in text.split('\x1e') {
                if p.is_empty() {
                    return Err(PayloadError::Empty);
                }
                if out.len() == MAX_PACKETS {
                    return Err(PayloadError::TooManyPackets);
                }
                out.push(Inbound::Text(p.to_owned()));
            }
        }
        EioVersion::V3 => {
            let mut rest = text;
            while !rest.is_empty() {
                let (len, tail) = rest.split_once(':').ok_or(PayloadError::BadLength)?;
                if len.is_empty() || len.len() > 10 || !len.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(PayloadError::BadLength);
                }
                let units: usize = len.parse().map_err(|_| PayloadError::BadLength)?;
                // Take `units` UTF-16 code units.
                let mut taken = 0;
                let mut end = 0;
                for c in tail.chars() {
                    if taken >= units {
                        break;
                    }
                    taken += c.len_utf16();
                    end += c.len_utf8();
                }
                if taken != units {
                    return Err(PayloadError::BadLength);
                }
                if units == 0 {
                    return Err(PayloadError::Empty);
                }
                if out.len() == MAX_PACKETS {
                    return Err(PayloadError::TooManyPackets);
                }
                out.push(Inbound::Text(tail[..end].to_owned()));
                rest = &tail[end..];
            }
        }
    }
    Ok(out)
}

fn decode_v3_binary(body: &[u8]) -> Result<Vec<Inbound>, PayloadError> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some((&kind, tail)) = rest.split_first() {
        if kind > 1 {
            return Err(PayloadError::BadType(kind));
        }
        let digits = tail
            .iter()
            .position(|&b| b == 0xff)
            .ok_or(PayloadError::BadLength)?;
        if digits == 0 || digits > 10 || tail[..digits].iter().any(|&d| d > 9) {
            return Err(PayloadError::BadLength);
        }
        let len = tail[..digits]
            .iter()
            .fold(0usize, |n, &d| n * 10 + usize::from(d));
        let data = &tail[digits + 1..];
        if len == 0 {
            return Err(PayloadError::Empty);
        }
        if data.len() < len {
            return Err(PayloadError::BadLength);
        }
        if out.len() == MAX_PACKETS {
            return Err(PayloadError::TooManyPackets);
        }
        let (packet, next) = data.split_at(len);
        out.push(if kind == 0 {
            Inbound::Text(
                std::str::from_utf8(packet)
                    .map_err(|_| PayloadError::NotUtf8)?
                    .to_owned(),
            )
        } else {
            Inbound::Binary(bytes::Bytes::copy_from_slice(packet))
        });
        rest = next;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(e: &Encoded) -> &str {
        std::str::from_utf8(&e.body).unwrap()
    }

    #[test]
    fn v4_joins_with_the_record_separator() {
        let e = encode(
            EioVersion::V4,
            false,
            &[
                Item::Text("0{\"sid\":\"x\"}"),
                Item::Text("40"),
                Item::Binary(&[1, 2, 3]),
            ],
        );
        assert_eq!(e.content_type, TEXT_TYPE);
        assert_eq!(text(&e), "0{\"sid\":\"x\"}\x1e40\x1ebAQID");
        assert_eq!(
            decode(EioVersion::V4, false, b"42[\"a\"]\x1e3\x1ebAQID").unwrap(),
            [
                Inbound::Text("42[\"a\"]".into()),
                Inbound::Text("3".into()),
                Inbound::Text("bAQID".into())
            ]
        );
        for bad in [&b""[..], b"4\x1e", b"\x1e4", b"\xff\xfe"] {
            assert!(decode(EioVersion::V4, false, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn v3_lengths_count_utf16_code_units() {
        // "é" is one UTF-16 unit (2 UTF-8 bytes); "😀" is two (4 bytes).
        let e = encode(
            EioVersion::V3,
            true,
            &[Item::Text("42[\"é😀\"]"), Item::Text("3")],
        );
        assert_eq!(text(&e), "9:42[\"é😀\"]1:3");
        assert_eq!(
            decode(EioVersion::V3, false, "9:42[\"é😀\"]1:3".as_bytes()).unwrap(),
            [
                Inbound::Text("42[\"é😀\"]".into()),
                Inbound::Text("3".into())
            ]
        );
        // Binary as base64 text when the client asked for it.
        let e = encode(EioVersion::V3, true, &[Item::Binary(&[4, 1, 2, 3])]);
        assert_eq!(text(&e), "6:b4AQID");
        for bad in [&b"3:42"[..], b"x:4", b":4", b"0:", b"2:4", b"12345678901:4"] {
            assert!(decode(EioVersion::V3, false, bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn what_is_encoded_decodes_back(
            texts in proptest::collection::vec("[^\u{1e}]{0,40}", 1..8),
            binary in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..20), 0..3),
            v3 in proptest::bool::ANY,
        ) {
            let version = if v3 { EioVersion::V3 } else { EioVersion::V4 };
            let texts: Vec<String> = texts.into_iter().map(|t| format!("4{t}")).collect();
            let bins: Vec<Vec<u8>> = binary
                .into_iter()
                .map(|mut b| { if v3 { b.insert(0, 4); } b })
                .collect();
            let mut items: Vec<Item<'_>> = texts.iter().map(|t| Item::Text(t)).collect();
            items.extend(bins.iter().map(|b| Item::Binary(b)));
            for b64 in [false, true] {
                let enc = encode(version, b64, &items);
                let back = decode(version, enc.content_type == BINARY_TYPE, &enc.body).unwrap();
                proptest::prop_assert_eq!(back.len(), items.len());
                for (i, t) in texts.iter().enumerate() {
                    proptest::prop_assert_eq!(&back[i], &Inbound::Text(t.clone()));
                }
            }
        }
    }

    #[test]
    fn v3_binary_payloads() {
        let e = encode(
            EioVersion::V3,
            false,
            &[Item::Text("451-[\"x\"]"), Item::Binary(&[4, 9, 9])],
        );
        assert_eq!(e.content_type, BINARY_TYPE);
        let mut want = vec![0, 9, 0xff];
        want.extend_from_slice(b"451-[\"x\"]");
        want.extend_from_slice(&[1, 3, 0xff, 4, 9, 9]);
        assert_eq!(e.body, want);
        assert_eq!(
            decode(EioVersion::V3, true, &want).unwrap(),
            [
                Inbound::Text("451-[\"x\"]".into()),
                Inbound::Binary(bytes::Bytes::from_static(&[4, 9, 9]))
            ]
        );
        // Without a binary packet, text framing even without b64.
        assert_eq!(
            text(&encode(EioVersion::V3, false, &[Item::Text("2")])),
            "1:2"
        );
        for bad in [
            &[2u8, 1, 0xff, 1][..],
            &[0, 5, 0xff, 1],
            &[0, 0xff],
            &[0, 10, 0xff, 1],
            &[1, 1],
        ] {
            assert!(decode(EioVersion::V3, true, bad).is_err(), "{bad:?}");
        }
    }
}
