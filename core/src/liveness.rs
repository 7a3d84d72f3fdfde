//! The lock-free "is this id connected?" table of one shard.
//!
//! One `AtomicU64` per slot holds the key of the socket that is live in it (0 when
//! none): its token mixed with its slot generation ([`live_key`]), so an id whose
//! token is right but whose generation is not (a forged id) is not live. The owning shard stores with `Release` when a socket connects or
//! disconnects; any thread loads with `Acquire` and compares with the token of the
//! id it holds. The table grows in fixed chunks created on first use
//! ([`OnceLock`]), so a reader never waits on a lock and a chunk never moves.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;

/// The liveness key of a socket: its token with the generation in the top bits;
/// never 0.
#[inline]
pub(crate) fn live_key(token: u64, gen: u16) -> u64 {
    match token ^ (u64::from(gen) << 48) {
        0 => 1,
        k => k,
    }
}

/// Per-shard table of live keys; see the module docs.
#[derive(Debug)]
pub(crate) struct LivenessTable {
    chunks: Box<[OnceLock<Box<[AtomicU64]>>]>,
    /// Slots holding a live key (only the owning shard changes it).
    live: AtomicUsize,
}

impl LivenessTable {
    /// A table for slots `0..capacity`.
    pub(crate) fn new(capacity: u32) -> LivenessTable {
        let n = (capacity as usize).div_ceil(CHUNK).max(1);
        LivenessTable {
            chunks: (0..n).map(|_| OnceLock::new()).collect(),
            live: AtomicUsize::new(0),
        }
    }

    fn cell(&self, slot: u32) -> Option<&AtomicU64> {
        let chunk = self.chunks.get((slot >> CHUNK_BITS) as usize)?.get()?;
        chunk.get(slot as usize & (CHUNK - 1))
    }

    /// Whether `token` is live in `slot`.
    pub(crate) fn is_live(&self, slot: u32, token: u64) -> bool {
        token != 0
            && self
                .cell(slot)
                .is_some_and(|c| c.load(Ordering::Acquire) == token)
    }

    /// Sets the token of `slot` (0 clears it). Only the owning shard calls this.
    pub(crate) fn set(&self, slot: u32, token: u64) {
        let Some(lock) = self.chunks.get((slot >> CHUNK_BITS) as usize) else {
            debug_assert!(false, "slot {slot} beyond the table");
            return;
        };
        let chunk = lock.get_or_init(|| (0..CHUNK).map(|_| AtomicU64::new(0)).collect());
        let old = chunk[slot as usize & (CHUNK - 1)].swap(token, Ordering::AcqRel);
        match (old == 0, token == 0) {
            (true, false) => {
                self.live.fetch_add(1, Ordering::Relaxed);
            }
            (false, true) => {
                self.live.fetch_sub(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// Slots holding a live key now.
    pub(crate) fn live_count(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// The token stored for `slot` (0 if none), for the invariant checker.
    pub(crate) fn get(&self, slot: u32) -> u64 {
        self.cell(slot).map_or(0, |c| c.load(Ordering::Acquire))
    }
}
