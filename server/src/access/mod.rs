//! Access control for the standalone server (`docs/SPEC.md` 4.12, the README's
//! "Secure it"): who may
//! connect and what a connected socket may do, beyond the route policy.
//!
//! * [`token`] — JSON Web Tokens (`--jwt-secret`, `--jwt-public-key`): checked
//!   at the handshake (Engine.IO v3, from the query) or at CONNECT (v4, from
//!   the auth object or the query); a verified token is a [`Grant`].
//! * [`grant`] — the user (`sub`), the rooms the socket may join itself
//!   (`rooms`, globs: [`room_pattern`]), and when the socket is disconnected
//!   (`exp`).
//! * [`origins`] — `--allowed-origins`: the web pages that may connect.
//! * [`rate`] — `--client-ops-per-sec`: a token bucket per client for socket
//!   routes, and the disconnection of abusive clients.
//!
//! Sans-IO: the runtime asks, these answer. Secrets and tokens are never
//! logged.

pub mod grant;
pub mod origins;
pub mod rate;
pub mod room_pattern;
pub mod token;
pub mod webhook;

pub use grant::Grant;
pub use origins::AllowedOrigins;
pub use rate::{RateLimit, Verdict};
pub use room_pattern::RoomPattern;
pub use token::{TokenRefusal, TokenVerifier};

/// The server's access rules, built once from the configuration.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Every client must present a valid token (`None`: no tokens).
    pub tokens: Option<TokenVerifier>,
    /// Only these web origins may connect (`None`: any).
    pub origins: Option<AllowedOrigins>,
    /// Socket-route calls a client may make per second (`None`: no limit).
    pub ops_per_sec: Option<u32>,
    /// Each connect is decided by the connect webhook.
    pub webhook: bool,
}

/// The wall clock in milliseconds since the epoch (token times are in it).
#[must_use]
pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
