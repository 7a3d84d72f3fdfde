//! `--cluster-compat` (issue 15): the wire codec that lets roomcast nodes join
//! a running socket.io or Sails cluster over Redis, speaking
//! @socket.io/redis-adapter 8.3 "classic" pub/sub (and @sailshq/socket.io-redis
//! 6.1, its older cousin), reading @socket.io/redis-emitter 5 messages, and
//! the Sails admin bus.
//! Sans-IO and pure: bytes in, values out, tested in memory against the real
//! captures in `e2e/peers/captures/` (`socketio-adapter-8.md`, `fixtures/`).
//!
//! * [`notepack`] — MessagePack as notepack.io writes it ↔ Socket.IO packet data
//!   (JSON text + binary attachments), bounded decoding.
//! * [`channel`] — channel names and patterns, and telling them apart.
//! * [`adapter_message`] — the broadcast message `[uid, packet, opts]`.
//! * [`adapter_request`] — requests and responses (types 0–9).
//! * [`admin_bus`] — the Sails admin bus (room-to-room moves).
//! * [`fields`] — reading either encoding into one tree; [`error`] — why a
//!   message was refused.
pub(crate) mod adapter_message;
pub(crate) mod adapter_request;
pub(crate) mod admin_bus;
pub(crate) mod channel;
pub(crate) mod error;
pub(crate) mod fields;
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzz_driver;
pub(crate) mod notepack;

/// A captured message of `e2e/peers/captures/fixtures/` (tests).
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../e2e/peers/captures/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod notepack_tests;
