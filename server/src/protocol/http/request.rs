//! [`Request`]: an HTTP/1.1 request head, parsed with `httparse` ([`parse_request`]),
//! and its [`Query`].

use super::error::HandshakeError;
use super::percent;

/// Default limit on the size of a request head (request line and headers), in bytes.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 16 * 1024;
/// Default limit on the number of request headers.
pub const DEFAULT_MAX_HEADERS: usize = 64;

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The raw request target, e.g. `/socket.io/?EIO=4&transport=websocket`.
    pub target: String,
    /// The path part of the target (before `?`), not percent-decoded.
    pub path: String,
    /// The query string parsed and percent-decoded.
    pub query: Query,
    /// Minor HTTP version: `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub minor_version: u8,
    /// Headers in arrival order: name as sent, raw value bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Length in bytes of the head including the final blank line; the body (if
    /// any) starts at this offset of the buffer that was parsed.
    pub head_len: usize,
}

impl Request {
    /// The first header named `name` (ASCII case-insensitive), if it is valid UTF-8.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// Whether any header named `name` holds `token` in its comma-separated list
    /// (ASCII case-insensitive), e.g. `Connection: keep-alive, Upgrade`.
    #[must_use]
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the connection may stay open after the response: HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    #[must_use]
    pub fn keep_alive(&self) -> bool {
        if self.minor_version >= 1 {
            !self.header_has_token("connection", "close")
        } else {
            self.header_has_token("connection", "keep-alive")
        }
    }

    /// The body length announced by `Content-Length` (0 when absent).
    ///
    /// # Errors
    ///
    /// [`HandshakeError::InvalidContentLength`] for a malformed or conflicting
    /// `Content-Length`, [`HandshakeError::UnsupportedTransferEncoding`] when a
    /// `Transfer-Encoding` header is present (chunked bodies are not supported).
    pub fn content_length(&self) -> Result<u64, HandshakeError> {
        if self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
        {
            return Err(HandshakeError::UnsupportedTransferEncoding);
        }
        let mut found: Option<u64> = None;
        for (_, v) in self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        {
            let s = std::str::from_utf8(v)
                .map_err(|_| HandshakeError::InvalidContentLength)?
                .trim();
            if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HandshakeError::InvalidContentLength);
            }
            let n: u64 = s
                .parse()
                .map_err(|_| HandshakeError::InvalidContentLength)?;
            if found.is_some_and(|f| f != n) {
                return Err(HandshakeError::InvalidContentLength);
            }
            found = Some(n);
        }
        Ok(found.unwrap_or(0))
    }
}

/// A parsed, percent-decoded query string (`application/x-www-form-urlencoded`
/// rules: `+` is a space, `%XX` is a byte, invalid escapes are kept literally,
/// invalid UTF-8 is replaced with U+FFFD). Order and duplicates are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Decoded `(key, value)` pairs in order.
    pub pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string (without the leading `?`).
    #[must_use]
    pub fn parse(raw: &str) -> Query {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (percent::decode_lossy(k), percent::decode_lossy(v)),
                None => (percent::decode_lossy(p), String::new()),
            })
            .collect();
        Query { pairs }
    }

    /// The first value for `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value for `key` if it appears exactly once (Node turns repeated keys
    /// into arrays, which never equal a string).
    #[must_use]
    pub fn get_single(&self, key: &str) -> Option<&str> {
        let mut it = self.pairs.iter().filter(|(k, _)| k == key);
        match (it.next(), it.next()) {
            (Some((_, v)), None) => Some(v),
            _ => None,
        }
    }

    /// Whether `key` appears at all.
    #[must_use]
    pub fn contains(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }
}

/// Parses a request head from the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete (nothing is consumed; call again
/// with more bytes). Bytes after the head (a body, or pipelined data) are ignored;
/// [`Request::head_len`] says where they start.
///
/// # Errors
///
/// [`HandshakeError::HeadTooLarge`] once `buf` holds `max_head_bytes` without a
/// complete head, [`HandshakeError::TooManyHeaders`], or
/// [`HandshakeError::Malformed`].
pub fn parse_request(
    buf: &[u8],
    max_head_bytes: usize,
    max_headers: usize,
) -> Result<Option<Request>, HandshakeError> {
    let window = &buf[..buf.len().min(max_head_bytes)];
    let mut headers = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(window) {
        Ok(httparse::Status::Partial) => {
            if buf.len() >= max_head_bytes {
                Err(HandshakeError::HeadTooLarge {
                    limit: max_head_bytes,
                })
            } else {
                Ok(None)
            }
        }
        Ok(httparse::Status::Complete(head_len)) => {
            let method = req.method.unwrap_or_default().to_owned();
            let target = req.path.unwrap_or_default().to_owned();
            let (path, raw_query) = match target.split_once('?') {
                Some((p, q)) => (p.to_owned(), q),
                None => (target.clone(), ""),
            };
            let query = Query::parse(raw_query);
            let headers = req
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), h.value.to_vec()))
                .collect();
            Ok(Some(Request {
                method,
                path,
                query,
                minor_version: req.version.unwrap_or(1),
                headers,
                head_len,
                target,
            }))
        }
        Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::TooManyHeaders),
        Err(e) => Err(HandshakeError::Malformed(e.to_string())),
    }
}
