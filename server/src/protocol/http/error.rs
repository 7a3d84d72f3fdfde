//! [`HandshakeError`]: why a request is refused before any upgrade, and engine.io's
//! [`EngineErrorCode`]s.

use std::fmt;

use super::response::http_response;

/// The Engine.IO handshake error codes (engine.io `Server.errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineErrorCode {
    /// 0: `transport` missing or not one of the transports that are on.
    TransportUnknown,
    /// 1: a `sid` that names no live session (of this node).
    SessionIdUnknown,
    /// 2: a handshake (no `sid`) with a method other than GET.
    BadHandshakeMethod,
    /// 3: `transport=websocket` on a request that is not a WebSocket upgrade; a
    /// `sid` used with another protocol version or transport; a polling
    /// request that is neither GET nor POST; a malformed payload.
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

    /// The whole HTTP answer: 403 for [`Forbidden`](Self::Forbidden), else 400,
    /// the JSON body, and `extra` headers (e.g. CORS).
    #[must_use]
    pub fn response(self, extra: &[(&str, String)], keep_alive: bool) -> Vec<u8> {
        let status = if self == EngineErrorCode::Forbidden {
            403
        } else {
            400
        };
        let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
        headers.extend(extra.iter().map(|(n, v)| (*n, v.as_str())));
        http_response(status, &headers, self.body().as_bytes(), keep_alive)
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
