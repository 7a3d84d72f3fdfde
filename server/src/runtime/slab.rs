//! [`Slab`]: one worker's connections, indexed by their mio token, with a second
//! index from a socket's slot (`SocketId::slot`) to its connection for the
//! shard's writer and verdicts.

use mio::net::TcpStream;
use roomcast::SocketId;

use super::connection::Connection;

/// A connection and its stream.
pub(crate) struct Entry {
    pub(crate) stream: TcpStream,
    pub(crate) conn: Connection,
    /// Changes whenever the index is reused (late timers and answers are ignored).
    pub(crate) serial: u64,
    /// The earliest timer entry pending for this connection.
    pub(crate) scheduled: Option<u64>,
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct Slab {
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    /// `SocketId::slot` → entry index + 1 (0: none).
    by_slot: Vec<usize>,
    next_serial: u64,
    live: usize,
}

impl Slab {
    /// The index the next [`insert`](Self::insert) will use (register the stream
    /// under it first).
    pub(crate) fn vacant(&mut self) -> usize {
        match self.free.last() {
            Some(&i) => i,
            None => {
                self.entries.push(None);
                self.free.push(self.entries.len() - 1);
                self.entries.len() - 1
            }
        }
    }

    /// Stores a new connection at [`vacant`](Self::vacant)'s index; returns its
    /// serial.
    pub(crate) fn insert(&mut self, idx: usize, stream: TcpStream, conn: Connection) -> u64 {
        debug_assert_eq!(self.free.last(), Some(&idx));
        self.free.pop();
        self.next_serial += 1;
        self.entries[idx] = Some(Entry {
            stream,
            conn,
            serial: self.next_serial,
            scheduled: None,
        });
        self.live += 1;
        self.next_serial
    }

    pub(crate) fn get(&self, idx: usize) -> Option<&Entry> {
        self.entries.get(idx)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, idx: usize) -> Option<&mut Entry> {
        self.entries.get_mut(idx)?.as_mut()
    }

    /// Takes a connection out (its socket's slot entry too).
    pub(crate) fn remove(&mut self, idx: usize) -> Option<Entry> {
        let entry = self.entries.get_mut(idx)?.take()?;
        if let Some(id) = entry.conn.socket() {
            if let Some(e) = self.by_slot.get_mut(id.slot() as usize) {
                if *e == idx + 1 {
                    *e = 0;
                }
            }
        }
        self.free.push(idx);
        self.live -= 1;
        Some(entry)
    }

    /// Records that connection `idx` holds socket `id`; returns the index of
    /// another connection still recorded for that slot (its socket is gone: the
    /// caller should finish it).
    pub(crate) fn link_socket(&mut self, idx: usize, id: SocketId) -> Option<usize> {
        let slot = id.slot() as usize;
        if self.by_slot.len() <= slot {
            self.by_slot.resize(slot + 1, 0);
        }
        let old = std::mem::replace(&mut self.by_slot[slot], idx + 1);
        (old != 0 && old != idx + 1).then(|| old - 1)
    }

    /// Whether connection `idx` is recorded for its socket's slot.
    pub(crate) fn is_linked(&self, idx: usize, id: SocketId) -> bool {
        self.by_slot.get(id.slot() as usize) == Some(&(idx + 1))
    }

    /// The connection holding socket `id`, if any.
    pub(crate) fn by_socket(&self, id: SocketId) -> Option<usize> {
        let idx = self.by_slot.get(id.slot() as usize)?.checked_sub(1)?;
        (self.get(idx)?.conn.socket() == Some(id)).then_some(idx)
    }

    /// Number of connections.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Every index that may hold a connection.
    pub(crate) fn indices(&self) -> std::ops::Range<usize> {
        0..self.entries.len()
    }
}
