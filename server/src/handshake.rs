//! HTTP/1.1 request parsing and the WebSocket / Engine.IO handshake, sans-IO.
//!
//! The caller reads bytes from a fresh connection into a buffer and calls
//! [`HandshakeConfig::process`] (or [`parse_request`] then [`HandshakeConfig::classify`])
//! after every read:
//!
//! * `Ok(None)`: the request head is incomplete; nothing was consumed, read more and
//!   call again with the whole buffer. A head that grows past
//!   [`HandshakeConfig::max_head_bytes`] is refused with `431` instead of being
//!   buffered without bound.
//! * `Ok(Some(Classified::SocketIo(..)))`: a valid WebSocket upgrade on the Socket.IO
//!   path (`/socket.io/` by default, matched as a prefix like Node does) whose
//!   Engine.IO query was accepted. Write [`SocketIoUpgrade::response`] (the
//!   `101 Switching Protocols`) and hand the connection to the WebSocket codec and a
//!   [`crate::session::Session`].
//! * `Ok(Some(Classified::Upgrade(..)))`: a valid WebSocket upgrade on another path;
//!   the caller decides (for example an Engine.IO echo on `/engine.io/`, or a 404).
//!   To apply the Engine.IO checks there too, classify the request again with a
//!   second config whose `path` is `/engine.io/`.
//! * `Ok(Some(Classified::Http(..)))`: a plain HTTP request (admin API, health,
//!   metrics, static page). [`Request::head_len`] tells where the body starts.
//! * `Ok(Some(Classified::Rejected(..)))` or `Err(..)`: write
//!   [`HandshakeError::response`] and close the connection.
//!
//! Engine.IO handshake errors are answered **before** the `101`, as recommended by
//! PROTOCOL-NOTES §1.7: HTTP 400 (403 for `Forbidden`) with
//! `Content-Type: application/json` and a body such as
//! `{"code":0,"message":"Transport unknown"}`. The checks run in engine.io's order:
//! transport, sid, method, upgrade, protocol version. WebSocket-level problems
//! (bad `Sec-WebSocket-Key`, version other than 13, ...) get plain-text 400 / 426
//! answers. permessage-deflate is never negotiated. Not copied from Node: the
//! `Origin` character check and `allowRequest` (the caller may refuse an accepted
//! upgrade with [`EngineErrorCode::Forbidden`]).
//!
//! ```
//! use roomcast_server::handshake::{Classified, HandshakeConfig};
//! let cfg = HandshakeConfig::default();
//! let req = b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n\
//!             Upgrade: websocket\r\nConnection: Upgrade\r\n\
//!             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
//! assert!(cfg.process(&req[..20]).unwrap().is_none()); // need more bytes
//! match cfg.process(req).unwrap().unwrap() {
//!     Classified::SocketIo(up) => {
//!         assert_eq!(up.ws.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
//!         assert!(up.response().starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use std::fmt;

use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::eio::EioVersion;

/// Default limit on the size of a request head (request line and headers), in bytes.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 16 * 1024;
/// Default limit on the number of request headers.
pub const DEFAULT_MAX_HEADERS: usize = 64;
/// The GUID RFC 6455 §1.3 appends to `Sec-WebSocket-Key` before hashing.
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Handshake settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeConfig {
    /// The Socket.IO path, matched as a prefix of the request path (Node's rule).
    /// A missing trailing slash is added: `"/socket.io"` matches `/socket.io/...`.
    pub path: String,
    /// Accept Engine.IO v3 clients (`EIO` other than `"4"`). When false such
    /// handshakes get `{"code":5,"message":"Unsupported protocol version"}`.
    pub allow_eio3: bool,
    /// Maximum size of the request head in bytes; larger heads get `431`.
    pub max_head_bytes: usize,
    /// Maximum number of headers; more get `431`.
    pub max_headers: usize,
}

impl Default for HandshakeConfig {
    fn default() -> Self {
        HandshakeConfig {
            path: "/socket.io/".to_owned(),
            allow_eio3: true,
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
        }
    }
}

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
                Some((k, v)) => (percent_decode(k), percent_decode(v)),
                None => (percent_decode(p), String::new()),
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

/// Percent-decodes a query component (`+` → space; invalid escapes kept as is;
/// invalid UTF-8 replaced with U+FFFD).
#[must_use]
pub fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
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

/// The Engine.IO handshake error codes (engine.io `Server.errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineErrorCode {
    /// 0: `transport` missing or not `websocket` (polling included: WebSocket only).
    TransportUnknown,
    /// 1: a `sid` was given; a WebSocket-only server has no sessions to resume.
    SessionIdUnknown,
    /// 2: a method other than GET.
    BadHandshakeMethod,
    /// 3: `transport=websocket` on a request that is not a WebSocket upgrade.
    BadRequest,
    /// 4: refused by the application (HTTP 403).
    Forbidden,
    /// 5: `EIO` other than `"4"` while Engine.IO v3 support is off.
    UnsupportedProtocolVersion,
}

impl EngineErrorCode {
    /// The numeric code sent in the body.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            EngineErrorCode::TransportUnknown => 0,
            EngineErrorCode::SessionIdUnknown => 1,
            EngineErrorCode::BadHandshakeMethod => 2,
            EngineErrorCode::BadRequest => 3,
            EngineErrorCode::Forbidden => 4,
            EngineErrorCode::UnsupportedProtocolVersion => 5,
        }
    }

    /// engine.io's message text.
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            EngineErrorCode::TransportUnknown => "Transport unknown",
            EngineErrorCode::SessionIdUnknown => "Session ID unknown",
            EngineErrorCode::BadHandshakeMethod => "Bad handshake method",
            EngineErrorCode::BadRequest => "Bad request",
            EngineErrorCode::Forbidden => "Forbidden",
            EngineErrorCode::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// The JSON body, e.g. `{"code":0,"message":"Transport unknown"}`.
    #[must_use]
    pub fn body(self) -> String {
        format!(
            "{{\"code\":{},\"message\":\"{}\"}}",
            self.code(),
            self.message()
        )
    }
}

/// Why a request was refused. Every variant is fatal to the connection: write
/// [`HandshakeError::response`] and close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// The request head exceeds the size limit (431).
    HeadTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// More headers than allowed (431).
    TooManyHeaders,
    /// The head is not valid HTTP/1.x (400); the detail comes from httparse.
    Malformed(String),
    /// An Engine.IO handshake error (400, or 403 for `Forbidden`, JSON body).
    Engine(EngineErrorCode),
    /// `Upgrade` present but not `websocket` (400).
    UpgradeNotWebSocket,
    /// An upgrade whose `Connection` header lacks the `upgrade` token (400).
    MissingConnectionUpgrade,
    /// An upgrade with a method other than GET (405).
    UpgradeMethodNotGet,
    /// An upgrade over HTTP/1.0 (400).
    UpgradeHttp10,
    /// `Sec-WebSocket-Key` missing or not the base64 of 16 bytes (400).
    InvalidWebSocketKey,
    /// `Sec-WebSocket-Version` missing (400).
    MissingWebSocketVersion,
    /// `Sec-WebSocket-Version` other than 13 (426 with `Sec-WebSocket-Version: 13`).
    UnsupportedWebSocketVersion,
    /// A malformed or conflicting `Content-Length` (400).
    InvalidContentLength,
    /// A `Transfer-Encoding` header: chunked bodies are not supported (501).
    UnsupportedTransferEncoding,
}

impl HandshakeError {
    /// The HTTP status to answer with.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::HeadTooLarge { .. } | HandshakeError::TooManyHeaders => 431,
            HandshakeError::Engine(EngineErrorCode::Forbidden) => 403,
            HandshakeError::UpgradeMethodNotGet => 405,
            HandshakeError::UnsupportedWebSocketVersion => 426,
            HandshakeError::UnsupportedTransferEncoding => 501,
            _ => 400,
        }
    }

    /// The complete HTTP response (with `Connection: close`) to write before
    /// closing the connection.
    #[must_use]
    pub fn response(&self) -> Vec<u8> {
        match self {
            HandshakeError::Engine(code) => http_response(
                self.status(),
                &[("Content-Type", "application/json")],
                code.body().as_bytes(),
                false,
            ),
            HandshakeError::UnsupportedWebSocketVersion => http_response(
                self.status(),
                &[
                    ("Sec-WebSocket-Version", "13"),
                    ("Content-Type", "text/plain; charset=utf-8"),
                ],
                self.to_string().as_bytes(),
                false,
            ),
            _ => http_response(
                self.status(),
                &[("Content-Type", "text/plain; charset=utf-8")],
                self.to_string().as_bytes(),
                false,
            ),
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::HeadTooLarge { limit } => {
                write!(f, "request head larger than {limit} bytes")
            }
            HandshakeError::TooManyHeaders => f.write_str("too many request headers"),
            HandshakeError::Malformed(d) => write!(f, "malformed HTTP request: {d}"),
            HandshakeError::Engine(c) => {
                write!(f, "engine.io handshake error {}: {}", c.code(), c.message())
            }
            HandshakeError::UpgradeNotWebSocket => f.write_str("Upgrade header is not websocket"),
            HandshakeError::MissingConnectionUpgrade => {
                f.write_str("Connection header lacks the upgrade token")
            }
            HandshakeError::UpgradeMethodNotGet => f.write_str("WebSocket upgrade must use GET"),
            HandshakeError::UpgradeHttp10 => f.write_str("WebSocket upgrade needs HTTP/1.1"),
            HandshakeError::InvalidWebSocketKey => {
                f.write_str("missing or invalid Sec-WebSocket-Key")
            }
            HandshakeError::MissingWebSocketVersion => f.write_str("missing Sec-WebSocket-Version"),
            HandshakeError::UnsupportedWebSocketVersion => {
                f.write_str("unsupported Sec-WebSocket-Version (only 13)")
            }
            HandshakeError::InvalidContentLength => f.write_str("invalid Content-Length"),
            HandshakeError::UnsupportedTransferEncoding => {
                f.write_str("Transfer-Encoding is not supported")
            }
        }
    }
}

impl std::error::Error for HandshakeError {}

/// A validated WebSocket upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUpgrade {
    /// The value for `Sec-WebSocket-Accept`.
    pub accept: String,
}

impl WsUpgrade {
    /// The `101 Switching Protocols` response (no extensions, no subprotocol).
    #[must_use]
    pub fn response(&self) -> Vec<u8> {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            self.accept
        )
        .into_bytes()
    }
}

/// `Sec-WebSocket-Accept` for a client key: base64(SHA-1(key + GUID)).
#[must_use]
pub fn websocket_accept(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// The `__sails_io_sdk_*` query keys sails.io.js sends; read, never required.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SailsSdk {
    /// `__sails_io_sdk_version`.
    pub version: Option<String>,
    /// `__sails_io_sdk_platform`.
    pub platform: Option<String>,
    /// `__sails_io_sdk_language`.
    pub language: Option<String>,
}

impl SailsSdk {
    /// Reads the keys from a query.
    #[must_use]
    pub fn from_query(q: &Query) -> SailsSdk {
        SailsSdk {
            version: q.get("__sails_io_sdk_version").map(str::to_owned),
            platform: q.get("__sails_io_sdk_platform").map(str::to_owned),
            language: q.get("__sails_io_sdk_language").map(str::to_owned),
        }
    }

    /// Whether any of the keys was present.
    #[must_use]
    pub fn is_present(&self) -> bool {
        self.version.is_some() || self.platform.is_some() || self.language.is_some()
    }
}

/// An accepted Socket.IO WebSocket upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketIoUpgrade {
    /// The request (headers and query stay available, e.g. for `Origin` or app keys).
    pub request: Request,
    /// The Engine.IO protocol version: v4 if `EIO=4`, v3 otherwise.
    pub version: EioVersion,
    /// `b64=1` (or any non-empty value but `0`/`false`): the client wants binary as base64 text.
    pub b64: bool,
    /// sails.io.js SDK keys, if sent.
    pub sails_sdk: SailsSdk,
    /// The WebSocket accept data.
    pub ws: WsUpgrade,
}

impl SocketIoUpgrade {
    /// The `101 Switching Protocols` response.
    #[must_use]
    pub fn response(&self) -> Vec<u8> {
        self.ws.response()
    }
}

/// What a complete request turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// A valid WebSocket upgrade on the Socket.IO path.
    SocketIo(Box<SocketIoUpgrade>),
    /// A valid WebSocket upgrade on another path: the caller decides.
    Upgrade(Box<Request>, WsUpgrade),
    /// A plain HTTP request, for the caller.
    Http(Box<Request>),
    /// A refused request: write [`HandshakeError::response`] and close.
    Rejected(HandshakeError),
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

impl HandshakeConfig {
    /// Parses and classifies in one step: `Ok(None)` means "need more bytes".
    ///
    /// # Errors
    ///
    /// The errors of [`parse_request`]; classification failures come back as
    /// [`Classified::Rejected`].
    pub fn process(&self, buf: &[u8]) -> Result<Option<Classified>, HandshakeError> {
        Ok(parse_request(buf, self.max_head_bytes, self.max_headers)?.map(|r| self.classify(r)))
    }

    /// Whether `path` is under the Socket.IO path (prefix match, with the
    /// trailing slash of the configured path enforced).
    #[must_use]
    pub fn is_socket_io_path(&self, path: &str) -> bool {
        let base = self.path.trim_end_matches('/');
        path.strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// Classifies a complete request.
    #[must_use]
    pub fn classify(&self, request: Request) -> Classified {
        let has_upgrade_header = request
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("upgrade"));
        if self.is_socket_io_path(&request.path) {
            return match self.verify_engine(&request) {
                Err(code) => Classified::Rejected(HandshakeError::Engine(code)),
                Ok(version) => match validate_websocket(&request) {
                    Err(e) => Classified::Rejected(e),
                    Ok(ws) => {
                        let b64 = request
                            .query
                            .get("b64")
                            .is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
                        let sails_sdk = SailsSdk::from_query(&request.query);
                        Classified::SocketIo(Box::new(SocketIoUpgrade {
                            request,
                            version,
                            b64,
                            sails_sdk,
                            ws,
                        }))
                    }
                },
            };
        }
        if has_upgrade_header {
            match validate_websocket(&request) {
                Ok(ws) => Classified::Upgrade(Box::new(request), ws),
                Err(e) => Classified::Rejected(e),
            }
        } else {
            Classified::Http(Box::new(request))
        }
    }

    /// engine.io's `verify()` + protocol check, in its order.
    fn verify_engine(&self, request: &Request) -> Result<EioVersion, EngineErrorCode> {
        let q = &request.query;
        if q.get_single("transport") != Some("websocket") {
            return Err(EngineErrorCode::TransportUnknown);
        }
        if q.contains("sid") {
            return Err(EngineErrorCode::SessionIdUnknown);
        }
        if request.method != "GET" {
            return Err(EngineErrorCode::BadHandshakeMethod);
        }
        let is_upgrade = request
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("upgrade"))
            && request.header_has_token("connection", "upgrade");
        if !is_upgrade {
            return Err(EngineErrorCode::BadRequest);
        }
        if q.get_single("EIO") == Some("4") {
            Ok(EioVersion::V4)
        } else if self.allow_eio3 {
            Ok(EioVersion::V3)
        } else {
            Err(EngineErrorCode::UnsupportedProtocolVersion)
        }
    }
}

/// Checks the RFC 6455 §4.2.1 requirements of an upgrade request.
///
/// # Errors
///
/// The [`HandshakeError`] naming the first requirement that fails.
pub fn validate_websocket(request: &Request) -> Result<WsUpgrade, HandshakeError> {
    if request.method != "GET" {
        return Err(HandshakeError::UpgradeMethodNotGet);
    }
    if request.minor_version < 1 {
        return Err(HandshakeError::UpgradeHttp10);
    }
    if !request.header_has_token("upgrade", "websocket") {
        return Err(HandshakeError::UpgradeNotWebSocket);
    }
    if !request.header_has_token("connection", "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    let key = request
        .header("sec-websocket-key")
        .ok_or(HandshakeError::InvalidWebSocketKey)?;
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(k) if k.len() == 16 => {}
        _ => return Err(HandshakeError::InvalidWebSocketKey),
    }
    match request.header("sec-websocket-version") {
        None => return Err(HandshakeError::MissingWebSocketVersion),
        Some("13") => {}
        Some(_) => return Err(HandshakeError::UnsupportedWebSocketVersion),
    }
    Ok(WsUpgrade {
        accept: websocket_accept(key),
    })
}

/// The reason phrase for common status codes (`""` for others).
#[must_use]
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Builds a complete HTTP/1.1 response: status line, the given headers, a
/// `Content-Length`, `Connection: keep-alive` or `close`, and the body.
/// CR and LF in header names or values are replaced by spaces, so caller data
/// cannot inject headers.
#[must_use]
pub fn http_response(
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
) -> Vec<u8> {
    fn clean(s: &str) -> std::borrow::Cow<'_, str> {
        if s.contains(['\r', '\n']) {
            s.replace(['\r', '\n'], " ").into()
        } else {
            s.into()
        }
    }
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    for (name, value) in headers {
        head.push_str(&clean(name));
        head.push_str(": ");
        head.push_str(&clean(value));
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn req(method: &str, target: &str, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut s = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n");
        for (n, v) in headers {
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        s.push_str("\r\n");
        s.into_bytes()
    }

    fn ws_headers() -> Vec<(&'static str, &'static str)> {
        vec![
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", KEY),
            ("Sec-WebSocket-Version", "13"),
        ]
    }

    fn classify(bytes: &[u8]) -> Classified {
        HandshakeConfig::default().process(bytes).unwrap().unwrap()
    }

    fn engine_err(c: Classified) -> EngineErrorCode {
        match c {
            Classified::Rejected(HandshakeError::Engine(code)) => code,
            other => panic!("expected engine error, got {other:?}"),
        }
    }

    #[test]
    fn rfc_accept_example() {
        assert_eq!(websocket_accept(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn v4_and_v3_upgrades() {
        let c = classify(&req(
            "GET",
            "/socket.io/?EIO=4&transport=websocket",
            &ws_headers(),
        ));
        let Classified::SocketIo(up) = c else {
            panic!()
        };
        assert_eq!(up.version, EioVersion::V4);
        assert!(!up.b64);
        for eio in ["EIO=3&", "", "EIO=abc&", "EIO=5&"] {
            let t = format!("/socket.io/?token=abc&{eio}transport=websocket&b64=1");
            let Classified::SocketIo(up) = classify(&req("GET", &t, &ws_headers())) else {
                panic!()
            };
            assert_eq!(up.version, EioVersion::V3);
            assert!(up.b64);
            assert_eq!(up.request.query.get("token"), Some("abc"));
        }
    }

    #[test]
    fn eio3_disabled() {
        let cfg = HandshakeConfig {
            allow_eio3: false,
            ..HandshakeConfig::default()
        };
        let r = req(
            "GET",
            "/socket.io/?EIO=3&transport=websocket",
            &ws_headers(),
        );
        let c = cfg.process(&r).unwrap().unwrap();
        assert_eq!(engine_err(c), EngineErrorCode::UnsupportedProtocolVersion);
    }

    #[test]
    fn engine_errors_in_order() {
        use EngineErrorCode::*;
        let h = ws_headers();
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], EngineErrorCode);
        let cases: &[Case<'_>] = &[
            ("GET", "/socket.io/?EIO=4", &h, TransportUnknown),
            (
                "GET",
                "/socket.io/?EIO=4&transport=polling",
                &[],
                TransportUnknown,
            ),
            (
                "POST",
                "/socket.io/?EIO=4&transport=polling",
                &[],
                TransportUnknown,
            ),
            (
                "GET",
                "/socket.io/?EIO=4&transport=websocket&transport=websocket",
                &h,
                TransportUnknown,
            ),
            (
                "GET",
                "/socket.io/?EIO=4&transport=websocket&sid=abc",
                &h,
                SessionIdUnknown,
            ),
            (
                "POST",
                "/socket.io/?EIO=4&transport=websocket",
                &[],
                BadHandshakeMethod,
            ),
            (
                "PUT",
                "/socket.io/?EIO=4&transport=websocket",
                &[],
                BadHandshakeMethod,
            ),
            (
                "GET",
                "/socket.io/?EIO=4&transport=websocket",
                &[],
                BadRequest,
            ),
            (
                "GET",
                "/socket.io/?EIO=4&transport=websocket",
                &[
                    ("Upgrade", "websocket"),
                    ("Sec-WebSocket-Key", KEY),
                    ("Sec-WebSocket-Version", "13"),
                ],
                BadRequest,
            ),
        ];
        for (m, t, hs, want) in cases {
            let c = classify(&req(m, t, hs));
            assert_eq!(engine_err(c), *want, "{m} {t}");
        }
    }

    #[test]
    fn engine_error_response_bytes() {
        let r = HandshakeError::Engine(EngineErrorCode::TransportUnknown).response();
        let s = String::from_utf8(r).unwrap();
        assert!(s.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(s.contains("Content-Type: application/json\r\n"));
        assert!(s.ends_with("\r\n\r\n{\"code\":0,\"message\":\"Transport unknown\"}"));
        let f = HandshakeError::Engine(EngineErrorCode::Forbidden).response();
        assert!(f.starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
    }

    #[test]
    fn websocket_errors() {
        let base = "/socket.io/?EIO=4&transport=websocket";
        let mut h = ws_headers();
        h[2] = ("Sec-WebSocket-Key", "c2hvcnQ=");
        assert_eq!(
            classify(&req("GET", base, &h)),
            Classified::Rejected(HandshakeError::InvalidWebSocketKey)
        );
        let mut h = ws_headers();
        h.remove(2);
        assert_eq!(
            classify(&req("GET", base, &h)),
            Classified::Rejected(HandshakeError::InvalidWebSocketKey)
        );
        let mut h = ws_headers();
        h[3] = ("Sec-WebSocket-Version", "8");
        let c = classify(&req("GET", base, &h));
        assert_eq!(
            c,
            Classified::Rejected(HandshakeError::UnsupportedWebSocketVersion)
        );
        let Classified::Rejected(e) = c else { panic!() };
        let resp = String::from_utf8(e.response()).unwrap();
        assert!(resp.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(resp.contains("Sec-WebSocket-Version: 13\r\n"));
        let mut h = ws_headers();
        h[0] = ("Upgrade", "h2c");
        assert_eq!(
            classify(&req("GET", base, &h)),
            Classified::Rejected(HandshakeError::UpgradeNotWebSocket)
        );
        // Connection token lists, case-insensitive.
        let mut h = ws_headers();
        h[1] = ("Connection", "keep-alive, UPGRADE");
        assert!(matches!(
            classify(&req("GET", base, &h)),
            Classified::SocketIo(_)
        ));
        // Off the engine path, a missing Connection token is a WebSocket error.
        let mut h = ws_headers();
        h[1] = ("Connection", "keep-alive");
        assert_eq!(
            classify(&req("GET", "/engine.io/", &h)),
            Classified::Rejected(HandshakeError::MissingConnectionUpgrade)
        );
    }

    #[test]
    fn other_paths() {
        let c = classify(&req(
            "GET",
            "/engine.io/?EIO=4&transport=websocket",
            &ws_headers(),
        ));
        assert!(matches!(c, Classified::Upgrade(ref r, _) if r.path == "/engine.io/"));
        let c = classify(&req("GET", "/health?x=1", &[]));
        let Classified::Http(r) = c else { panic!() };
        assert_eq!(r.path, "/health");
        assert_eq!(r.query.get("x"), Some("1"));
        // `/socket.io` without the slash is not the engine path (Node's prefix rule).
        assert!(matches!(
            classify(&req("GET", "/socket.io", &[])),
            Classified::Http(_)
        ));
        assert!(matches!(
            classify(&req("GET", "/socket.iox/", &[])),
            Classified::Http(_)
        ));
    }

    #[test]
    fn partial_and_limits() {
        let r = req(
            "GET",
            "/socket.io/?EIO=4&transport=websocket",
            &ws_headers(),
        );
        let cfg = HandshakeConfig::default();
        for i in 0..r.len() {
            assert_eq!(cfg.process(&r[..i]).unwrap(), None, "prefix {i}");
        }
        let big = vec![b'a'; 20000];
        let mut r = b"GET / HTTP/1.1\r\nX: ".to_vec();
        r.extend_from_slice(&big);
        assert_eq!(
            cfg.process(&r),
            Err(HandshakeError::HeadTooLarge {
                limit: DEFAULT_MAX_HEAD_BYTES
            })
        );
        let mut many = String::from("GET / HTTP/1.1\r\n");
        for i in 0..100 {
            many.push_str(&format!("X-{i}: 1\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(
            cfg.process(many.as_bytes()),
            Err(HandshakeError::TooManyHeaders)
        );
        assert_eq!(HandshakeError::TooManyHeaders.status(), 431);
        assert!(matches!(
            cfg.process(b"GARBAGE\x01 / HTTP/1.1\r\n\r\n"),
            Err(HandshakeError::Malformed(_))
        ));
    }

    #[test]
    fn query_decoding() {
        let q = Query::parse("a=b%20c&d=e+f&g=%ZZ&h&=x&i=%E2%9C%93&j=%ff");
        assert_eq!(q.get("a"), Some("b c"));
        assert_eq!(q.get("d"), Some("e f"));
        assert_eq!(q.get("g"), Some("%ZZ"));
        assert_eq!(q.get("h"), Some(""));
        assert_eq!(q.get(""), Some("x"));
        assert_eq!(q.get("i"), Some("✓"));
        assert_eq!(q.get("j"), Some("\u{fffd}"));
        let sdk = SailsSdk::from_query(&Query::parse(
            "__sails_io_sdk_version=1.2.1&__sails_io_sdk_platform=node&__sails_io_sdk_language=javascript",
        ));
        assert_eq!(sdk.version.as_deref(), Some("1.2.1"));
        assert!(sdk.is_present());
    }

    #[test]
    fn body_helpers() {
        let r = parse_request(
            b"POST /admin HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            DEFAULT_MAX_HEAD_BYTES,
            DEFAULT_MAX_HEADERS,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.content_length(), Ok(5));
        assert_eq!(r.head_len, 43);
        assert!(r.keep_alive());
        let r = parse_request(
            b"POST /admin HTTP/1.0\r\nContent-Length: x\r\n\r\n",
            DEFAULT_MAX_HEAD_BYTES,
            DEFAULT_MAX_HEADERS,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            r.content_length(),
            Err(HandshakeError::InvalidContentLength)
        );
        assert!(!r.keep_alive());
        let resp = http_response(200, &[("X-A", "b\r\nInjected: 1")], b"ok", true);
        assert_eq!(
            resp,
            b"HTTP/1.1 200 OK\r\nX-A: b  Injected: 1\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"
        );
    }
}
