//! roomcast core (in progress).
#![deny(missing_docs)]

mod error;
pub mod wire;

pub use error::Error;
