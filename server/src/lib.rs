//! The roomcast server crate: sans-IO protocol modules (WebSocket, HTTP handshake,
//! Engine.IO, Socket.IO) and, on top of them, the mio runtime of the `roomcast` binary.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod app;
pub mod config;
pub mod eio;
pub mod handshake;
pub mod router;
mod runtime;
pub mod session;
pub mod sio;
pub mod ws;
