//! Percent-decoding, in the two flavours the server needs: strict for paths
//! (a malformed escape or a result that is not UTF-8 is an error), and lossy for
//! query strings, as Node's `querystring` does (`+` is a space, malformed escapes
//! stay as sent, invalid UTF-8 becomes U+FFFD) — what socket.io and Sails see.

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Strict decoding: `None` for a malformed escape or a result that is not UTF-8.
/// With `plus`, `+` decodes to a space (query strings); without, it stays (paths).
///
/// ```
/// use roomcast_server::protocol::http::percent::decode_strict;
/// assert_eq!(decode_strict("caf%C3%A9+x", false).as_deref(), Some("café+x"));
/// assert_eq!(decode_strict("a+b", true).as_deref(), Some("a b"));
/// assert_eq!(decode_strict("%zz", false), None);
/// assert_eq!(decode_strict("%ff", false), None);
/// ```
#[must_use]
pub fn decode_strict(s: &str, plus: bool) -> Option<String> {
    let bytes = s.as_bytes();
    if !(bytes.contains(&b'%') || plus && bytes.contains(&b'+')) {
        return Some(s.to_owned());
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = hex(*bytes.get(i + 1)?)?;
                let lo = hex(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Query-component decoding as Node's `querystring`: `+` is a space, `%XX` a
/// byte, malformed escapes are kept literally, invalid UTF-8 is replaced with
/// U+FFFD. Never fails.
///
/// ```
/// use roomcast_server::protocol::http::percent::decode_lossy;
/// assert_eq!(decode_lossy("a%20b+c"), "a b c");
/// assert_eq!(decode_lossy("%zz"), "%zz");
/// assert_eq!(decode_lossy("%ff"), "\u{fffd}");
/// ```
#[must_use]
pub fn decode_lossy(s: &str) -> String {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b == b'%' || b == b'+') {
        return s.to_owned();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}
