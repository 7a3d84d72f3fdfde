//! The WebSocket / Engine.IO handshake: classifying a complete request head as a
//! Socket.IO upgrade, an Engine.IO long-polling request, a CORS preflight,
//! another upgrade, plain HTTP, or a refusal.

use base64::Engine as _;

use super::error::{EngineErrorCode, HandshakeError};
use super::request::{parse_request, Query, Request, DEFAULT_MAX_HEADERS, DEFAULT_MAX_HEAD_BYTES};
use crate::protocol::eio::EioVersion;
use crate::protocol::ws::accept_key;

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
    /// The Engine.IO transports clients may use; another gets
    /// `{"code":0,"message":"Transport unknown"}`.
    pub transports: Transports,
}

/// Which Engine.IO transports are on (`--transports`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transports {
    /// `transport=websocket`.
    pub websocket: bool,
    /// `transport=polling` (HTTP long-polling).
    pub polling: bool,
}

impl Default for Transports {
    fn default() -> Self {
        Transports {
            websocket: true,
            polling: true,
        }
    }
}

impl Default for HandshakeConfig {
    fn default() -> Self {
        HandshakeConfig {
            path: "/socket.io/".to_owned(),
            allow_eio3: true,
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            transports: Transports::default(),
        }
    }
}

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
    /// The `sid` of a long-polling session upgrading to WebSocket (the caller
    /// checks it is a live polling session of the same version).
    pub sid: Option<String>,
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

/// An Engine.IO long-polling request (`transport=polling`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollingRequest {
    /// The request.
    pub request: Request,
    /// The Engine.IO protocol version: v4 if `EIO=4`, v3 otherwise.
    pub version: EioVersion,
    /// `b64=1`: a v3 client that wants binary as base64 text.
    pub b64: bool,
    /// The session, absent on the handshake (then the method is GET).
    pub sid: Option<String>,
    /// A POST (packets from the client) rather than a GET (a poll).
    pub post: bool,
}

/// What a complete request turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// A valid WebSocket upgrade on the Socket.IO path.
    SocketIo(Box<SocketIoUpgrade>),
    /// A long-polling request on the Socket.IO path.
    Polling(Box<PollingRequest>),
    /// A CORS preflight (`OPTIONS`) on the Socket.IO path.
    Preflight(Box<Request>),
    /// A valid WebSocket upgrade on another path: the caller decides.
    Upgrade(Box<Request>, WsUpgrade),
    /// A plain HTTP request, for the caller.
    Http(Box<Request>),
    /// A refused request: write [`HandshakeError::response`] and close.
    Rejected(HandshakeError),
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

    /// Whether `path` is the socket.io browser client under the Socket.IO path
    /// (`socket.io.js` or `socket.io.min.js`), which servers serve as a file.
    #[must_use]
    pub fn is_client_script(&self, path: &str) -> bool {
        let base = self.path.trim_end_matches('/');
        path.strip_prefix(base)
            .is_some_and(|rest| rest == "/socket.io.js" || rest == "/socket.io.min.js")
    }

    /// Classifies a complete request.
    #[must_use]
    pub fn classify(&self, request: Request) -> Classified {
        let has_upgrade_header = request
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("upgrade"));
        if self.is_socket_io_path(&request.path) {
            if request.method == "OPTIONS" {
                return Classified::Preflight(Box::new(request));
            }
            if self.is_client_script(&request.path) && !has_upgrade_header {
                // The socket.io browser client, served as plain HTTP.
                return Classified::Http(Box::new(request));
            }
            let b64 = request
                .query
                .get("b64")
                .is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
            let sid = request.query.get("sid").map(str::to_owned);
            return match self.verify_engine(&request) {
                Err(code) => Classified::Rejected(HandshakeError::Engine(code)),
                Ok((version, false)) => {
                    let post = request.method == "POST";
                    Classified::Polling(Box::new(PollingRequest {
                        request,
                        version,
                        b64,
                        sid,
                        post,
                    }))
                }
                Ok((version, true)) => match validate_websocket(&request) {
                    Err(e) => Classified::Rejected(e),
                    Ok(ws) => {
                        let sails_sdk = SailsSdk::from_query(&request.query);
                        Classified::SocketIo(Box::new(SocketIoUpgrade {
                            request,
                            version,
                            sid,
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

    /// engine.io's `verify()` + protocol check, in its order: the version and
    /// whether the request is a WebSocket upgrade (else long-polling).
    fn verify_engine(&self, request: &Request) -> Result<(EioVersion, bool), EngineErrorCode> {
        let q = &request.query;
        let websocket = match q.get_single("transport") {
            Some("websocket") if self.transports.websocket => true,
            Some("polling") if self.transports.polling => false,
            _ => return Err(EngineErrorCode::TransportUnknown),
        };
        let sid = q.get("sid");
        if sid.is_some() && q.get_single("sid").is_none_or(str::is_empty) {
            // Repeated or empty: no session has that id.
            return Err(EngineErrorCode::SessionIdUnknown);
        }
        if sid.is_none() && request.method != "GET" {
            return Err(EngineErrorCode::BadHandshakeMethod);
        }
        if !websocket && !matches!(request.method.as_str(), "GET" | "POST") {
            return Err(EngineErrorCode::BadRequest);
        }
        let is_upgrade = request
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("upgrade"))
            && request.header_has_token("connection", "upgrade");
        if websocket && !is_upgrade {
            return Err(EngineErrorCode::BadRequest);
        }
        let version = if q.get_single("EIO") == Some("4") {
            EioVersion::V4
        } else if self.allow_eio3 {
            EioVersion::V3
        } else {
            return Err(EngineErrorCode::UnsupportedProtocolVersion);
        };
        Ok((version, websocket))
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
        accept: accept_key(key),
    })
}
