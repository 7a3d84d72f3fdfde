//! The protocols, sans-IO: state machines and codecs that take bytes and time in
//! and give bytes and events out, tested in memory with no sockets.
//!
//! | layer | what it owns |
//! |---|---|
//! | [`http`] | HTTP/1.1 request heads, responses, the WebSocket / Engine.IO upgrade |
//! | [`ws`] | the RFC 6455 WebSocket codec and close handshake |
//! | [`eio`] | Engine.IO v3/v4 packets and sessions (open, heartbeats, close), whatever the transport |
//! | [`sio`] | Socket.IO packets, namespaces, acks, binary attachments, virtual requests |
//!
//! Each layer knows only the ones below it: `sio` sits on `eio`, the upgrade in
//! `http` names the `eio` version and uses `ws`'s accept key; nothing here knows
//! the engine, the router or mio.

pub mod eio;
pub mod http;
pub mod sio;
pub mod ws;
