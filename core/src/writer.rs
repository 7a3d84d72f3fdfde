//! [`Writer`]: where a shard's drained bytes go.
//!
//! The engine does no I/O. At the end of a tick, [`Shard::drain`](crate::Shard::drain)
//! offers each dirty socket's pending frames, in order, as one gather list to a
//! writer the caller supplies. The server's writer does one write to the
//! socket's TCP stream (`send`, or a vectored `sendmsg` for several frames) and
//! reports how many bytes the kernel took; tests and benches use
//! [`MemoryWriter`] or [`NullWriter`].

use std::collections::HashMap;
use std::io::IoSlice;

use crate::SocketId;

/// Takes a socket's pending bytes; see the module docs.
pub trait Writer {
    /// Offers `bufs` — everything pending for `socket`, in order — and returns how
    /// many bytes, from the front, were taken (all, some, or none). What is not
    /// taken stays queued on the socket, in order, until
    /// [`Shard::flush`](crate::Shard::flush) offers it again.
    fn write(&mut self, socket: SocketId, bufs: &[IoSlice<'_>]) -> usize;
}

impl<W: Writer + ?Sized> Writer for &mut W {
    fn write(&mut self, socket: SocketId, bufs: &[IoSlice<'_>]) -> usize {
        (**self).write(socket, bufs)
    }
}

/// Takes everything and keeps nothing but counts (for benches).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullWriter {
    /// Calls to [`Writer::write`].
    pub writes: u64,
    /// Bytes taken.
    pub bytes: u64,
}

impl Writer for NullWriter {
    #[inline]
    fn write(&mut self, _socket: SocketId, bufs: &[IoSlice<'_>]) -> usize {
        let n: usize = bufs.iter().map(|b| b.len()).sum();
        self.writes += 1;
        self.bytes += n as u64;
        n
    }
}

/// Appends each socket's bytes to an in-memory buffer, optionally taking at most a
/// given number of bytes per call (to exercise partial writes) or none at all for
/// chosen sockets (a client that stopped reading).
///
/// # Examples
///
/// ```
/// use roomcast::{EngineConfig, MemoryWriter, Engine, wire::split_frames};
///
/// let (engine, mut shards) = Engine::new(EngineConfig::default());
/// let a = shards[0].connect().unwrap();
/// engine.emit(a, Some("hi"), &1).unwrap();
/// shards[0].process_ops();
/// let mut out = MemoryWriter::default();
/// shards[0].drain(&mut out);
/// assert_eq!(split_frames(out.received(a)), [r#"42["hi",1]"#]);
/// ```
#[derive(Debug, Default, Clone)]
pub struct MemoryWriter {
    received: HashMap<SocketId, Vec<u8>>,
    max_per_write: Option<usize>,
    blocked: Vec<SocketId>,
    /// Calls to [`Writer::write`].
    pub writes: u64,
}

impl MemoryWriter {
    /// A writer that takes at most `n` bytes per call.
    #[must_use]
    pub fn with_max_per_write(n: usize) -> MemoryWriter {
        MemoryWriter {
            max_per_write: Some(n),
            ..MemoryWriter::default()
        }
    }

    /// Makes writes to `socket` take nothing (`WouldBlock`) until [`unblock`](Self::unblock).
    pub fn block(&mut self, socket: SocketId) {
        self.blocked.push(socket);
    }

    /// Undoes [`block`](Self::block).
    pub fn unblock(&mut self, socket: SocketId) {
        self.blocked.retain(|s| *s != socket);
    }

    /// Everything `socket` has been sent so far.
    #[must_use]
    pub fn received(&self, socket: SocketId) -> &[u8] {
        self.received.get(&socket).map_or(&[], Vec::as_slice)
    }

    /// Takes and clears what `socket` has been sent so far.
    pub fn take(&mut self, socket: SocketId) -> Vec<u8> {
        self.received.remove(&socket).unwrap_or_default()
    }
}

impl Writer for MemoryWriter {
    fn write(&mut self, socket: SocketId, bufs: &[IoSlice<'_>]) -> usize {
        self.writes += 1;
        if self.blocked.contains(&socket) {
            return 0;
        }
        let mut room = self.max_per_write.unwrap_or(usize::MAX);
        let out = self.received.entry(socket).or_default();
        let mut taken = 0;
        for b in bufs {
            let n = b.len().min(room);
            out.extend_from_slice(&b[..n]);
            taken += n;
            room -= n;
            if room == 0 {
                break;
            }
        }
        taken
    }
}
