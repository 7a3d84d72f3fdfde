//! The roomcast server crate: sans-IO protocol layers ([`protocol`]: HTTP,
//! WebSocket, Engine.IO, Socket.IO), the route table and built-in routes
//! ([`router`]), the application API ([`app`], [`handler`]), configuration
//! ([`config`]), and the mio runtime of the `roomcast` binary. The repository's
//! `docs/ARCHITECTURE.md` gives every module's concept and what it may touch.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod access;
pub mod app;

mod cluster;
pub mod config;
pub mod handler;
pub mod logging;
pub mod protocol;
pub mod router;
mod runtime;

/// Test support for the fuzz targets (feature `fuzzing`; not a supported API).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::cluster::compat::fuzz_driver::{
        drive as drive_compat_messages, seeds as compat_message_seeds,
    };
    pub use crate::cluster::fuzz_driver::{
        drive as drive_cluster_messages, seeds as cluster_message_seeds,
    };
    pub use crate::runtime::fuzz_driver::drive as drive_connection;
}
