//! [`Palette`]: one shard's delivery state — the frames of the current tick, each
//! socket's pending list, and each socket's backlog of what its transport did not
//! take.
//!
//! # One tick
//!
//! Within one tick (one loop iteration of the owning thread) every frame the shard
//! must send goes once into the palette (`Vec<Bytes>`, one entry a frame, however
//! many recipients). A recipient gets the frame's index appended to its pending
//! list — an intrusive linked list in a per-tick arena, so a socket costs 8 bytes
//! of head/tail and no allocation — and is put on the **dirty** list the first
//! time. There are no atomic operations per recipient.
//!
//! At the end of the tick, [`Palette::drain`] offers each dirty socket's frames, in
//! order, to the caller's [`Writer`] as one gather list (one vectored write a
//! socket). What the writer does not take is kept, in order, on the socket's own
//! **backlog** (a `Bytes` clone of each frame, or a slice of a partly written one —
//! the slow path alone pays for that); while a backlog exists, new frames join it
//! without a write being tried, and [`Palette::flush`] offers it again once the
//! transport is writable. Past the outbound limit the socket is a slow consumer:
//! it gets nothing more and is reported (once) by [`Palette::take_overflowed`].
//!
//! ```text
//!  frames:  [F0 "42[\"a\",1]"] [F1 "42[\"b\",2]"]        (Bytes, shared)
//!  arena:   #0 {F0,→#2}  #1 {F0,→∅}  #2 {F1,→∅}
//!  links:   slot 3: head #0 tail #2      slot 9: head #1 tail #1
//!  dirty:   [3, 9]         drain → write(3, [F0,F1]); write(9, [F0])
//! ```
//!
//! The palette knows slots, not sockets: the shard hands it a function from slot
//! to [`SocketId`] for the writer, and tells it when a slot is reused.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::Bytes;
use smallvec::SmallVec;

use crate::writer::Writer;
use crate::SocketId;

const NIL: u32 = u32::MAX;
/// Most buffers offered to one [`Writer::write`] call (Linux `IOV_MAX` is 1024).
pub const MAX_IOV: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Link {
    head: u32,
    tail: u32,
}

const NIL_LINK: Link = Link {
    head: NIL,
    tail: NIL,
};

#[derive(Debug, Clone, Copy)]
struct Entry {
    frame: u32,
    next: u32,
}

#[derive(Debug)]
struct Backlog {
    bufs: VecDeque<Bytes>,
    bytes: usize,
}

/// A slot's delivery state across ticks.
#[derive(Debug, Default)]
struct Outbox {
    backlog: Option<Box<Backlog>>,
    /// Passed the outbound limit: nothing more is queued or written.
    overflowed: bool,
    /// Its socket is sealed (its close frame was the last thing queued):
    /// the limit no longer cuts it off, so what is queued, close included,
    /// is still written. Nothing more can be queued to it, and the owner's
    /// close deadline bounds how long it is kept.
    sealed: bool,
}

/// Delivery counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeliveryStats {
    pub(crate) deliveries: u64,
    pub(crate) writes: u64,
    pub(crate) bytes_written: u64,
    pub(crate) slow_consumers: u64,
}

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Palette {
    frames: Vec<Bytes>,
    arena: Vec<Entry>,
    links: Vec<Link>,
    outboxes: Vec<Outbox>,
    /// Bit per slot: its outbox is not empty (a backlog, or overflowed). The
    /// drain's fast path reads this bitset, not the outboxes.
    slow: Vec<u64>,
    dirty: Vec<u32>,
    /// Deliveries queued this tick (added to `stats` by `drain`).
    tick_deliveries: u64,
    overflowed: Vec<u32>,
    outbound_limit: usize,
    scratch: Vec<u32>,
    stats: DeliveryStats,
    /// Ticks drained, and the most entries / frames / dirty slots one tick used
    /// since the last shrink check: after a spike, the per-tick vectors give
    /// their memory back.
    ticks: u64,
    peak: [usize; 3],
}

/// Every this many ticks, the per-tick vectors are shrunk to twice the most a
/// tick used meanwhile, if they are more than four times that.
const SHRINK_EVERY: u64 = 256;
/// Capacity below which nothing is shrunk (entries of the largest vector).
const SHRINK_MIN: usize = 4096;

fn shrink<T>(v: &mut Vec<T>, peak: usize) {
    if v.capacity() > SHRINK_MIN && v.capacity() / 4 > peak {
        v.shrink_to((peak * 2).max(SHRINK_MIN));
    }
}

impl Palette {
    pub(crate) fn new(outbound_limit: usize) -> Palette {
        Palette {
            frames: Vec::new(),
            arena: Vec::new(),
            links: Vec::new(),
            outboxes: Vec::new(),
            slow: Vec::new(),
            dirty: Vec::new(),
            tick_deliveries: 0,
            overflowed: Vec::new(),
            outbound_limit,
            scratch: Vec::new(),
            stats: DeliveryStats::default(),
            ticks: 0,
            peak: [0; 3],
        }
    }

    /// Makes room for slots `0..n`.
    pub(crate) fn grow_to(&mut self, n: usize) {
        if self.links.len() < n {
            self.links.resize(n, NIL_LINK);
            self.outboxes.resize_with(n, Outbox::default);
            self.slow.resize(n.div_ceil(64), 0);
        }
    }

    /// `slot`'s socket is sealed: what is queued to it (its close frame last)
    /// is written whatever its size, not cut off as a slow consumer.
    pub(crate) fn seal(&mut self, slot: u32) {
        self.outboxes[slot as usize].sealed = true;
    }

    /// Forgets everything queued to `slot` (its socket is gone; the slot may be
    /// reused).
    pub(crate) fn reset(&mut self, slot: u32) {
        self.links[slot as usize] = NIL_LINK;
        self.outboxes[slot as usize] = Outbox::default();
        self.set_slow(slot, false);
        // Not reported any more: the slot may soon hold another socket.
        self.overflowed.retain(|&s| s != slot);
    }

    #[inline]
    fn is_slow(&self, slot: u32) -> bool {
        self.slow[slot as usize >> 6] & (1 << (slot & 63)) != 0
    }

    fn set_slow(&mut self, slot: u32, on: bool) {
        let (w, b) = (slot as usize >> 6, 1u64 << (slot & 63));
        if on {
            self.slow[w] |= b;
        } else {
            self.slow[w] &= !b;
        }
    }

    /// Counters (this tick's deliveries included).
    pub(crate) fn stats(&self) -> DeliveryStats {
        DeliveryStats {
            deliveries: self.stats.deliveries + self.tick_deliveries,
            ..self.stats
        }
    }

    /// Adds a frame for this tick; returns its index.
    pub(crate) fn push_frame(&mut self, frame: Bytes) -> u32 {
        self.frames.push(frame);
        (self.frames.len() - 1) as u32
    }

    /// Queues frame `f` to `slot`. With `dedupe`, a slot whose last queued frame is
    /// already `f` (it was reached through another room) is skipped.
    #[inline(always)]
    pub(crate) fn deliver(&mut self, slot: u32, f: u32, dedupe: bool) {
        let idx = self.arena.len() as u32;
        let link = &mut self.links[slot as usize];
        if link.head == NIL {
            link.head = idx;
            link.tail = idx;
            self.dirty.push(slot);
        } else {
            let tail = link.tail as usize;
            if dedupe && self.arena[tail].frame == f {
                return;
            }
            self.arena[tail].next = idx;
            link.tail = idx;
        }
        self.arena.push(Entry {
            frame: f,
            next: NIL,
        });
        self.tick_deliveries += 1;
    }

    /// Offers every dirty slot's pending frames through `writer` (one call a
    /// slot, at most [`MAX_IOV`] buffers a call), keeps what it did not take on
    /// the slot's backlog, and starts a new tick. `id_of` names a slot's socket.
    pub(crate) fn drain<W: Writer + ?Sized>(
        &mut self,
        writer: &mut W,
        id_of: impl Fn(u32) -> SocketId,
    ) {
        let dirty = std::mem::take(&mut self.dirty);
        for &slot in &dirty {
            self.flush_pending(slot, writer, &id_of);
        }
        let mut dirty = dirty;
        let used = [self.arena.len(), self.frames.len(), dirty.len()];
        for (p, u) in self.peak.iter_mut().zip(used) {
            *p = (*p).max(u);
        }
        dirty.clear();
        self.dirty = dirty;
        self.arena.clear();
        self.frames.clear();
        self.stats.deliveries += self.tick_deliveries;
        self.tick_deliveries = 0;
        self.ticks += 1;
        if self.ticks % SHRINK_EVERY == 0 {
            shrink(&mut self.arena, self.peak[0]);
            shrink(&mut self.frames, self.peak[1]);
            shrink(&mut self.dirty, self.peak[2]);
            shrink(&mut self.scratch, self.peak[0]);
            self.peak = [0; 3];
        }
    }

    #[inline]
    fn flush_pending<W: Writer + ?Sized>(
        &mut self,
        slot: u32,
        writer: &mut W,
        id_of: &impl Fn(u32) -> SocketId,
    ) {
        let link = std::mem::replace(&mut self.links[slot as usize], NIL_LINK);
        if link.head == NIL {
            return; // its socket went away this tick
        }
        if self.is_slow(slot) {
            self.queue_behind(slot, link);
            return;
        }
        let id = id_of(slot);
        if link.head == link.tail {
            // One frame: the common case of fanout.
            let frame = &self.frames[self.arena[link.head as usize].frame as usize];
            let n = writer.write(id, &[IoSlice::new(frame)]);
            self.stats.writes += 1;
            self.stats.bytes_written += n.min(frame.len()) as u64;
            if n < frame.len() {
                let rest = frame.slice(n..);
                self.start_backlog(
                    slot,
                    Backlog {
                        bytes: rest.len(),
                        bufs: VecDeque::from([rest]),
                    },
                );
            }
            return;
        }
        let mut order = std::mem::take(&mut self.scratch);
        order.clear();
        let mut e = link.head;
        while e != NIL {
            let entry = self.arena[e as usize];
            order.push(entry.frame);
            e = entry.next;
        }
        let mut done = 0; // frames of `order` fully written
        let mut partial = 0; // bytes written of order[done]
        while done < order.len() {
            let chunk = &order[done..order.len().min(done + MAX_IOV)];
            let iov: SmallVec<[IoSlice<'_>; 16]> = chunk
                .iter()
                .map(|&f| IoSlice::new(&self.frames[f as usize]))
                .collect();
            let total: usize = iov.iter().map(|b| b.len()).sum();
            let n = writer.write(id, &iov).min(total);
            self.stats.writes += 1;
            self.stats.bytes_written += n as u64;
            let mut left = n;
            for &f in chunk {
                let len = self.frames[f as usize].len();
                if left >= len {
                    left -= len;
                    done += 1;
                } else {
                    partial = left;
                    break;
                }
            }
            if n < total {
                break;
            }
        }
        if done < order.len() {
            let mut bufs = VecDeque::with_capacity(order.len() - done);
            let mut bytes = 0;
            for (i, &f) in order[done..].iter().enumerate() {
                let frame = &self.frames[f as usize];
                let b = if i == 0 {
                    frame.slice(partial..)
                } else {
                    frame.clone()
                };
                bytes += b.len();
                bufs.push_back(b);
            }
            self.start_backlog(slot, Backlog { bufs, bytes });
        }
        self.scratch = order;
    }

    /// The slow path of the drain: `slot` already waits for its transport (or
    /// overflowed), so its new frames queue behind its backlog, unwritten.
    #[cold]
    fn queue_behind(&mut self, slot: u32, link: Link) {
        let outbox = &mut self.outboxes[slot as usize];
        let Some(backlog) = &mut outbox.backlog else {
            return; // overflowed: nothing more is queued
        };
        let mut e = link.head;
        while e != NIL {
            let entry = self.arena[e as usize];
            let frame = &self.frames[entry.frame as usize];
            backlog.bytes += frame.len();
            backlog.bufs.push_back(frame.clone());
            e = entry.next;
        }
        self.check_overflow(slot);
    }

    fn start_backlog(&mut self, slot: u32, backlog: Backlog) {
        self.outboxes[slot as usize].backlog = Some(Box::new(backlog));
        self.set_slow(slot, true);
        self.check_overflow(slot);
    }

    fn check_overflow(&mut self, slot: u32) {
        let outbox = &mut self.outboxes[slot as usize];
        if !outbox.sealed
            && outbox
                .backlog
                .as_ref()
                .is_some_and(|b| b.bytes > self.outbound_limit)
        {
            outbox.backlog = None;
            outbox.overflowed = true;
            self.stats.slow_consumers += 1;
            self.overflowed.push(slot);
        }
    }

    /// Slots that passed the outbound limit since the last call.
    pub(crate) fn take_overflowed(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.overflowed)
    }

    /// Bytes queued to `slot` that the writer has not taken yet (`None`: no
    /// backlog).
    pub(crate) fn backlog_bytes(&self, slot: u32) -> Option<usize> {
        self.outboxes
            .get(slot as usize)?
            .backlog
            .as_ref()
            .map(|b| b.bytes)
    }

    /// Offers `slot`'s backlog to `writer` again. Returns true when nothing is
    /// left unsent.
    pub(crate) fn flush<W: Writer + ?Sized>(
        &mut self,
        slot: u32,
        id: SocketId,
        writer: &mut W,
    ) -> bool {
        let Some(outbox) = self.outboxes.get_mut(slot as usize) else {
            return true;
        };
        let Some(backlog) = &mut outbox.backlog else {
            return true;
        };
        loop {
            let iov: SmallVec<[IoSlice<'_>; 16]> = backlog
                .bufs
                .iter()
                .take(MAX_IOV)
                .map(|b| IoSlice::new(b))
                .collect();
            let total: usize = iov.iter().map(|b| b.len()).sum();
            let n = writer.write(id, &iov).min(total);
            drop(iov);
            self.stats.writes += 1;
            self.stats.bytes_written += n as u64;
            backlog.bytes -= n;
            let mut left = n;
            while left > 0 {
                let Some(front) = backlog.bufs.front_mut() else {
                    break;
                };
                if left >= front.len() {
                    left -= front.len();
                    backlog.bufs.pop_front();
                } else {
                    let rest = front.slice(left..);
                    *front = rest;
                    left = 0;
                }
            }
            if backlog.bufs.is_empty() {
                outbox.backlog = None;
                self.set_slow(slot, false);
                return true;
            }
            if n < total {
                return false;
            }
        }
    }

    /// Checks the palette's own invariants: every slot with pending frames is
    /// dirty, and every pending entry points into this tick's frames.
    pub(crate) fn validate(&self) -> Result<(), String> {
        for (slot, link) in self.links.iter().enumerate() {
            if link.head != NIL && !self.dirty.contains(&(slot as u32)) {
                return Err(format!("slot {slot} has pending frames but is not dirty"));
            }
            let mut e = link.head;
            while e != NIL {
                let entry = self.arena[e as usize];
                if entry.frame as usize >= self.frames.len() {
                    return Err(format!(
                        "slot {slot} pends frame {} beyond the palette",
                        entry.frame
                    ));
                }
                e = entry.next;
            }
        }
        for (slot, o) in self.outboxes.iter().enumerate() {
            if self.is_slow(slot as u32) != (o.backlog.is_some() || o.overflowed) {
                return Err(format!("slot {slot}: slow bit disagrees with its outbox"));
            }
            if let Some(b) = &o.backlog {
                let sum: usize = b.bufs.iter().map(Bytes::len).sum();
                if sum != b.bytes || b.bufs.is_empty() {
                    return Err(format!(
                        "slot {slot}: backlog of {} bytes holds {sum}",
                        b.bytes
                    ));
                }
            }
        }
        Ok(())
    }
}
