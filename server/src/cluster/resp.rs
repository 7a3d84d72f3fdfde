//! A bounded RESP2 reader for the subscriber's connection to Redis. Sans-IO:
//! bytes in ([`RespReader::feed`]), values out ([`RespReader::next`]).
//!
//! Ours rather than the Redis client crate's because a subscriber reads what
//! anyone with access to the channel published: a bulk string longer than
//! `max_bulk` is skipped as it streams in, never buffered
//! ([`Value::Oversized`]), and arrays are at most [`MAX_ARRAY`] long and
//! [`MAX_DEPTH`] deep. The publisher's connection, which only reads short
//! replies to its own commands, uses the `redis` crate.

use bytes::{Buf, Bytes, BytesMut};

/// Longest array accepted (a pub/sub push has 3 or 4 elements).
pub(crate) const MAX_ARRAY: usize = 64;
/// Deepest nesting accepted.
pub(crate) const MAX_DEPTH: usize = 4;
/// Longest line (simple string, error, integer, header) accepted.
const MAX_LINE: usize = 4096;

/// A RESP2 value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// `+OK`
    Simple(String),
    /// `-ERR …`
    Error(String),
    /// `:n`
    Int(i64),
    /// `$n` bytes, or `$-1` (nil).
    Bulk(Option<Bytes>),
    /// A bulk string of this many bytes, longer than the reader's bound: its
    /// bytes were skipped.
    Oversized(usize),
    /// `*n` values, or `*-1` (nil).
    Array(Option<Vec<Value>>),
}

/// The stream broke the protocol: the connection must be dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RespError(pub(crate) String);

impl std::error::Error for RespError {}

impl std::fmt::Display for RespError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad RESP from Redis: {}", self.0)
    }
}

/// An array being filled.
#[derive(Debug)]
struct Open {
    want: usize,
    items: Vec<Value>,
}

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct RespReader {
    buf: BytesMut,
    max_bulk: usize,
    stack: Vec<Open>,
    /// Inside a bulk string: its length, and whether it is being skipped.
    bulk: Option<(usize, bool)>,
    /// Bytes of an oversized bulk (and its CRLF) still to skip.
    skip: usize,
}

impl RespReader {
    /// A reader that skips bulk strings longer than `max_bulk` bytes.
    pub(crate) fn new(max_bulk: usize) -> RespReader {
        RespReader {
            buf: BytesMut::new(),
            max_bulk,
            stack: Vec::new(),
            bulk: None,
            skip: 0,
        }
    }

    /// Bytes held, waiting for the rest of a value.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Adds bytes read from the connection.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        let mut bytes = bytes;
        if self.skip > 0 {
            let n = self.skip.min(bytes.len());
            self.skip -= n;
            bytes = &bytes[n..];
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete top-level value, `Ok(None)` if more bytes are needed.
    ///
    /// # Errors
    ///
    /// [`RespError`] when the stream is not RESP or passes a bound; the reader
    /// must not be used again.
    pub(crate) fn next(&mut self) -> Result<Option<Value>, RespError> {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.buf.len());
                self.buf.advance(n);
                self.skip -= n;
                if self.skip > 0 {
                    return Ok(None);
                }
            }
            let value = if let Some((len, skipping)) = self.bulk {
                if skipping {
                    self.bulk = None;
                    Value::Oversized(len)
                } else {
                    if self.buf.len() < len + 2 {
                        return Ok(None);
                    }
                    if &self.buf[len..len + 2] != b"\r\n" {
                        return Err(RespError("bulk string not followed by CRLF".into()));
                    }
                    let data = self.buf.split_to(len).freeze();
                    self.buf.advance(2);
                    self.bulk = None;
                    Value::Bulk(Some(data))
                }
            } else {
                let Some(line) = self.line()? else {
                    return Ok(None);
                };
                let (kind, rest) = (line[0], &line[1..]);
                let text = || String::from_utf8_lossy(rest).into_owned();
                match kind {
                    b'+' => Value::Simple(text()),
                    b'-' => Value::Error(text()),
                    b':' => Value::Int(int(rest)?),
                    b'$' => {
                        let n = int(rest)?;
                        if n == -1 {
                            Value::Bulk(None)
                        } else {
                            let len = usize::try_from(n)
                                .map_err(|_| RespError(format!("bulk length {n}")))?;
                            if len > self.max_bulk {
                                self.bulk = Some((len, true));
                                self.skip = len + 2;
                            } else {
                                self.bulk = Some((len, false));
                            }
                            continue;
                        }
                    }
                    b'*' => {
                        let n = int(rest)?;
                        if n == -1 {
                            Value::Array(None)
                        } else {
                            let want = usize::try_from(n)
                                .ok()
                                .filter(|w| *w <= MAX_ARRAY)
                                .ok_or_else(|| RespError(format!("array of {n} values")))?;
                            if self.stack.len() >= MAX_DEPTH {
                                return Err(RespError("arrays nested too deep".into()));
                            }
                            if want == 0 {
                                Value::Array(Some(Vec::new()))
                            } else {
                                self.stack.push(Open {
                                    want,
                                    items: Vec::with_capacity(want),
                                });
                                continue;
                            }
                        }
                    }
                    other => {
                        return Err(RespError(format!("unknown type byte {other:#04x}")));
                    }
                }
            };
            if let Some(v) = self.complete(value) {
                return Ok(Some(v));
            }
        }
    }

    /// Adds `value` to the open array (closing every array it completes);
    /// returns it (or the outermost array completed) when it is top-level.
    fn complete(&mut self, mut value: Value) -> Option<Value> {
        loop {
            let Some(top) = self.stack.last_mut() else {
                return Some(value);
            };
            top.items.push(value);
            if top.items.len() < top.want {
                return None;
            }
            let done = self.stack.pop().expect("just looked");
            value = Value::Array(Some(done.items));
        }
    }

    /// One CRLF-terminated line, without its CRLF (never empty).
    fn line(&mut self) -> Result<Option<Bytes>, RespError> {
        let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") else {
            if self.buf.len() > MAX_LINE {
                return Err(RespError("line too long".into()));
            }
            return Ok(None);
        };
        if end == 0 {
            return Err(RespError("empty line".into()));
        }
        if end > MAX_LINE {
            return Err(RespError("line too long".into()));
        }
        let line = self.buf.split_to(end).freeze();
        self.buf.advance(2);
        Ok(Some(line))
    }
}

fn int(text: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| {
            RespError(format!(
                "not an integer: {:?}",
                String::from_utf8_lossy(text)
            ))
        })
}

/// Encodes a command as a RESP array of bulk strings.
pub(crate) fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::Bulk(Some(Bytes::copy_from_slice(s.as_bytes())))
    }

    fn all(r: &mut RespReader) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(v) = r.next().unwrap() {
            out.push(v);
        }
        out
    }

    #[test]
    fn pushes_arrive_whole_however_the_bytes_are_cut() {
        let stream = b"*3\r\n$9\r\nsubscribe\r\n$3\r\nall\r\n:1\r\n\
*3\r\n$7\r\nmessage\r\n$3\r\nall\r\n$5\r\nhe\r\no\r\n+OK\r\n-ERR no\r\n$-1\r\n*0\r\n";
        let want = vec![
            Value::Array(Some(vec![bulk("subscribe"), bulk("all"), Value::Int(1)])),
            Value::Array(Some(vec![bulk("message"), bulk("all"), bulk("he\r\no")])),
            Value::Simple("OK".into()),
            Value::Error("ERR no".into()),
            Value::Bulk(None),
            Value::Array(Some(vec![])),
        ];
        for cut in 1..=stream.len() {
            let mut r = RespReader::new(1024);
            let mut got = Vec::new();
            for chunk in stream.chunks(cut) {
                r.feed(chunk);
                got.extend(all(&mut r));
            }
            assert_eq!(got, want, "chunks of {cut}");
            assert_eq!(r.buffered(), 0);
        }
    }

    #[test]
    fn oversized_bulk_strings_are_skipped_not_buffered() {
        let mut r = RespReader::new(8);
        r.feed(b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1000000\r\n");
        assert_eq!(r.next().unwrap(), None);
        for _ in 0..1000 {
            r.feed(&[b'x'; 1000]);
            assert_eq!(r.next().unwrap(), None);
            assert!(r.buffered() < 64, "{}", r.buffered());
        }
        r.feed(b"\r\n:5\r\n");
        assert_eq!(
            all(&mut r),
            [
                Value::Array(Some(vec![
                    bulk("message"),
                    bulk("c"),
                    Value::Oversized(1_000_000)
                ])),
                Value::Int(5)
            ]
        );
    }

    #[test]
    fn protocol_errors_and_bounds() {
        for bad in [
            &b"?\r\n"[..],
            b"\r\n",
            b":x\r\n",
            b"$-2\r\n",
            b"*65\r\n",
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n",
            b"$1\r\nabc",
        ] {
            let mut r = RespReader::new(100);
            r.feed(bad);
            assert!(r.next().is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let mut r = RespReader::new(100);
        r.feed(&[b'+'; 5000]);
        assert!(r.next().is_err(), "an endless line");
    }

    #[test]
    fn commands_encode_as_arrays_of_bulk_strings() {
        assert_eq!(
            command(&[b"SUBSCRIBE", b"a#all"]),
            b"*2\r\n$9\r\nSUBSCRIBE\r\n$5\r\na#all\r\n"
        );
    }
}
