//! [`ConnKey`]: how an answer given later finds its connection.

/// A connection of a worker: its slab index and the serial of the connection
/// that had it (a later connection in the same slot has another serial, so a
/// late answer never reaches the wrong client).
pub(crate) type ConnKey = (usize, u64);
