//! HTTP/1.1, sans-IO: request heads ([`Request`], [`parse_request`]), responses
//! ([`http_response`]), percent-decoding ([`percent`]), and the WebSocket /
//! Engine.IO handshake ([`HandshakeConfig::classify`]).
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
//!   [`crate::protocol::sio::Session`].
//! * `Ok(Some(Classified::Polling(..)))`: an Engine.IO long-polling request
//!   (`transport=polling`): the handshake (GET, no `sid`), a poll (GET with
//!   `sid`) or packets from the client (POST with `sid`, the body after
//!   [`Request::head_len`]); the payloads are `crate::protocol::eio::payload`'s.
//!   A WebSocket upgrade may carry the `sid` of a polling session
//!   ([`SocketIoUpgrade::sid`]): the caller checks it.
//! * `Ok(Some(Classified::Preflight(..)))`: a CORS preflight on the Socket.IO
//!   path, answered with [`cors::Cors::preflight`].
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
//! `docs/PROTOCOL-NOTES.md` §1.7: HTTP 400 (403 for `Forbidden`) with
//! `Content-Type: application/json` and a body such as
//! `{"code":0,"message":"Transport unknown"}`. The checks run in engine.io's order:
//! transport, sid, method, upgrade, protocol version. WebSocket-level problems
//! (bad `Sec-WebSocket-Key`, version other than 13, ...) get plain-text 400 / 426
//! answers. permessage-deflate is never negotiated. Not copied from Node: the
//! `Origin` character check and `allowRequest` (the caller may refuse an accepted
//! upgrade with [`EngineErrorCode::Forbidden`]).
//!
//! ```
//! use roomcast_server::protocol::http::{Classified, HandshakeConfig};
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

pub mod cors;
mod error;
pub mod percent;
mod request;
mod response;
mod upgrade;

pub use error::{EngineErrorCode, HandshakeError};
pub use request::{parse_request, Query, Request, DEFAULT_MAX_HEADERS, DEFAULT_MAX_HEAD_BYTES};
pub use response::{http_response, reason_phrase};
pub use upgrade::{
    validate_websocket, Classified, HandshakeConfig, PollingRequest, SailsSdk, SocketIoUpgrade,
    Transports, WsUpgrade,
};

#[cfg(test)]
mod tests;
