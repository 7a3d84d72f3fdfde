//! Room membership on one shard: the primitives (create, join, leave, drop empty
//! rooms) and applying each [`Op`] to them.

use std::sync::Arc;

use smallvec::SmallVec;

use super::{CloseCause, RoomEntry, Shard};
use crate::op::{Broadcast, LeaveAllOptions, Op, Room, RoomToRooms, Selected, SelectedAction};
use crate::room_set::{for_each_bit, RoomSet};
use crate::{Error, SocketId};

const NIL: u32 = u32::MAX;

impl Shard {
    pub(super) fn room(&self, idx: u32) -> &RoomEntry {
        self.rooms[idx as usize]
            .as_ref()
            .expect("room index in use")
    }

    fn room_mut(&mut self, idx: u32) -> &mut RoomEntry {
        self.rooms[idx as usize]
            .as_mut()
            .expect("room index in use")
    }

    /// The slot of the socket a socket-id room name names, if it is live here and
    /// in its own room.
    fn virtual_member(&self, id: Option<SocketId>) -> Option<u32> {
        let slot = self.live_slot(id?)?;
        self.slots[slot as usize].own_room.then_some(slot)
    }

    pub(super) fn collect_members(&self, name: &str, id: Option<SocketId>, out: &mut Vec<u32>) {
        out.clear();
        if let Some(&idx) = self.room_index.get(name) {
            self.room(idx).members.for_each(|s| out.push(s));
        }
        if let Some(s) = self.virtual_member(id) {
            out.push(s);
        }
    }

    fn room_or_create(&mut self, name: &str) -> u32 {
        if let Some(&idx) = self.room_index.get(name) {
            return idx;
        }
        let name: Arc<str> = Arc::from(name);
        let room = RoomEntry {
            name: name.clone(),
            members: RoomSet::default(),
        };
        let idx = match self.free_rooms.pop() {
            Some(i) => {
                self.rooms[i as usize] = Some(room);
                i
            }
            None => {
                self.rooms.push(Some(room));
                (self.rooms.len() - 1) as u32
            }
        };
        self.room_index.insert(name, idx);
        idx
    }

    fn drop_room_if_empty(&mut self, idx: u32) {
        if self.room(idx).members.is_empty() {
            let room = self.rooms[idx as usize].take().expect("room in use");
            self.room_index.remove(&room.name);
            self.free_rooms.push(idx);
            // After a spike of rooms, the index gives its memory back.
            let (len, cap) = (self.room_index.len(), self.room_index.capacity());
            if cap > 4096 && len < cap / 8 {
                self.room_index.shrink_to(len * 2);
            }
        }
    }

    /// Removes `slot` from room `idx` (not from the slot's list) and drops the room
    /// if it empties.
    pub(super) fn remove_member(&mut self, idx: u32, slot: u32) {
        let limits = self.limits;
        if self.room_mut(idx).members.remove(slot, limits) {
            self.memberships -= 1;
        }
        self.drop_room_if_empty(idx);
    }

    /// Joins (or leaves) each live socket of `ids` that is ours to `room`.
    ///
    /// # Errors
    ///
    /// [`Error::TooManyRooms`] naming the first socket that could not join
    /// because it is in `max_rooms_per_socket` rooms (the others did join).
    pub(super) fn join_ids(
        &mut self,
        ids: &[SocketId],
        room: &str,
        join: bool,
    ) -> Result<(), Error> {
        let mut refused = None;
        for &id in ids {
            if let Some(slot) = self.live_slot(id) {
                if join {
                    if !self.join_slot(slot, room) && refused.is_none() {
                        refused = Some(id);
                    }
                } else {
                    self.leave_slot(slot, room);
                }
            }
        }
        match refused {
            None => Ok(()),
            Some(id) => Err(Error::TooManyRooms {
                socket: id.to_string(),
                max: self.hub.config.max_rooms_per_socket,
            }),
        }
    }

    /// False if the slot is in the most rooms it may be in.
    fn join_slot(&mut self, slot: u32, room: &str) -> bool {
        if SocketId::parse(room).is_some_and(|id| self.local_slot(id) == Some(slot)) {
            self.slots[slot as usize].own_room = true;
            return true;
        }
        if let Some(&idx) = self.room_index.get(room) {
            if self.room(idx).members.contains(slot) {
                return true;
            }
        }
        if self.slots[slot as usize].rooms.len() >= self.hub.config.max_rooms_per_socket {
            return false;
        }
        let idx = self.room_or_create(room);
        let limits = self.limits;
        if self.room_mut(idx).members.insert(slot, limits) {
            self.slots[slot as usize].rooms.push(idx);
            self.memberships += 1;
        }
        true
    }

    fn leave_slot(&mut self, slot: u32, room: &str) {
        if SocketId::parse(room).is_some_and(|id| self.local_slot(id) == Some(slot)) {
            self.slots[slot as usize].own_room = false;
            return;
        }
        let Some(&idx) = self.room_index.get(room) else {
            return;
        };
        let rooms = &mut self.slots[slot as usize].rooms;
        if let Some(pos) = rooms.iter().position(|&r| r == idx) {
            rooms.remove(pos);
            self.remove_member(idx, slot);
        }
    }

    // ----- applying operations ---------------------------------------------------

    pub(crate) fn apply(&mut self, op: Op) {
        match op {
            // A join mailed from another thread that passes the limit skips the
            // socket: there is nobody to answer.
            Op::Join { sockets, room } => {
                let _ = self.join_ids(&sockets, room.name(), true);
            }
            Op::Leave { sockets, room } => {
                let _ = self.join_ids(&sockets, room.name(), false);
            }
            Op::Broadcast(b) => self.apply_broadcast(&b),
            Op::Blast {
                frame,
                omit,
                except,
            } => self.apply_blast(frame.into_bytes(), omit, &except),
            Op::Emit { sockets, frame } => {
                let f = self.palette.push_frame(frame.into_bytes());
                for id in sockets {
                    if let Some(slot) = self.live_slot(id) {
                        self.palette.deliver(slot, f, true);
                    }
                }
            }
            Op::LeaveAll { room, options } => self.apply_leave_all(&room, options),
            Op::AddMembers(o) => self.apply_room_to_rooms(&o, true),
            Op::RemoveMembers(o) => self.apply_room_to_rooms(&o, false),
            Op::Disconnect { socket } => {
                if self.live_slot(socket).is_some() {
                    self.disconnect(socket);
                    self.closed.push((socket, CloseCause::Disconnected));
                }
            }
            Op::Selected(o) => self.apply_selected(&o),
        }
    }

    fn apply_broadcast(&mut self, b: &Broadcast) {
        if !b.except.is_empty() {
            return self.apply_broadcast_except(b);
        }
        self.broadcasts += 1;
        let f = self.palette.push_frame(b.frame.as_bytes().clone());
        let omit = b.omit.and_then(|id| self.live_slot(id)).unwrap_or(NIL);
        let dedupe = b.rooms.len() > 1;
        for room in &b.rooms {
            if let Some(&idx) = self.room_index.get(room.name()) {
                let members = &self.rooms[idx as usize]
                    .as_ref()
                    .expect("indexed room")
                    .members;
                let palette = &mut self.palette;
                match members {
                    // The two arms are the hot loops of fanout; keep them tight.
                    RoomSet::Dense { words, .. } => for_each_bit(words, |s| {
                        if s != omit {
                            palette.deliver(s, f, dedupe);
                        }
                    }),
                    RoomSet::Sorted(v) => {
                        for &s in v.iter() {
                            if s != omit {
                                palette.deliver(s, f, dedupe);
                            }
                        }
                    }
                }
            }
            if let Some(s) = self.virtual_member(room.socket()) {
                if s != omit {
                    // The owner of an id room is never in that room's explicit set,
                    // but may have been reached through another room.
                    self.palette.deliver(s, f, dedupe);
                }
            }
        }
    }

    fn apply_blast(&mut self, frame: bytes::Bytes, omit: Option<SocketId>, except: &[Room]) {
        self.broadcasts += 1;
        let excluded = self.excluded(except);
        let f = self.palette.push_frame(frame);
        let omit = omit.and_then(|id| self.live_slot(id)).unwrap_or(NIL);
        let palette = &mut self.palette;
        for_each_bit(&self.live, |s| {
            if s != omit && !is_set(&excluded, s) {
                palette.deliver(s, f, false);
            }
        });
    }

    /// A broadcast with `except` rooms, off the hot path: every member of
    /// `rooms` but `omit` and the members of `except`.
    fn apply_broadcast_except(&mut self, b: &Broadcast) {
        self.broadcasts += 1;
        let excluded = self.excluded(&b.except);
        let f = self.palette.push_frame(b.frame.as_bytes().clone());
        let omit = b.omit.and_then(|id| self.live_slot(id)).unwrap_or(NIL);
        let mut members = std::mem::take(&mut self.scratch_slots);
        for room in &b.rooms {
            self.collect_members(room.name(), room.socket(), &mut members);
            for &s in &members {
                if s != omit && !is_set(&excluded, s) {
                    self.palette.deliver(s, f, true);
                }
            }
        }
        self.scratch_slots = members;
    }

    /// The members of any of `rooms`, as a bitset over slots (empty: none).
    fn excluded(&self, rooms: &[Room]) -> Vec<u64> {
        if rooms.is_empty() {
            return Vec::new();
        }
        let mut words = vec![0u64; self.slots.len().div_ceil(64)];
        let mut members = Vec::new();
        for room in rooms {
            self.collect_members(room.name(), room.socket(), &mut members);
            for &s in &members {
                words[s as usize >> 6] |= 1 << (s & 63);
            }
        }
        words
    }

    fn apply_leave_all(&mut self, room: &Room, options: LeaveAllOptions) {
        let mut members = std::mem::take(&mut self.scratch_slots);
        self.collect_members(room.name(), room.socket(), &mut members);
        let source = self.room_index.get(room.name()).copied();
        for &m in &members {
            let before = std::mem::take(&mut self.slots[m as usize].rooms);
            let mut kept = SmallVec::new();
            for r in before {
                if !options.include_source_room && Some(r) == source {
                    kept.push(r);
                } else {
                    self.remove_member(r, m);
                }
            }
            self.slots[m as usize].rooms = kept;
            if options.include_socket_rooms {
                self.slots[m as usize].own_room = false;
            }
        }
        self.scratch_slots = members;
    }

    fn apply_room_to_rooms(&mut self, o: &RoomToRooms, add: bool) {
        // Snapshot the source's members as words (explicit members and the socket
        // an id room names), so that later changes — even to the source itself —
        // do not affect who is moved.
        let mut words = std::mem::take(&mut self.scratch_words);
        words.clear();
        if let Some(&idx) = self.room_index.get(o.source.name()) {
            self.room(idx).members.to_words(&mut words);
        }
        if let Some(s) = self.virtual_member(o.source.socket()) {
            set_bit(&mut words, s);
        }
        self.move_words(words, &o.dests, add);
    }

    /// [`Selected`]: the members of any of its rooms (every live socket when
    /// none), as a snapshot, less the members of its `except` rooms.
    fn apply_selected(&mut self, o: &Selected) {
        let words = self.selection(&o.rooms, &o.except);
        match &o.action {
            SelectedAction::Join(dests) => self.move_words(words, dests, true),
            SelectedAction::Leave(dests) => self.move_words(words, dests, false),
            SelectedAction::Disconnect => {
                let mut ids = Vec::new();
                for_each_bit(&words, |s| ids.push(self.id_of(s)));
                for id in ids {
                    if self.live_slot(id).is_some() {
                        self.disconnect(id);
                        self.closed.push((id, CloseCause::Disconnected));
                    }
                }
            }
        }
    }

    /// The live members of any of `rooms` (every live socket when `rooms` is
    /// empty) that are members of none of `except`, as a bitset over slots.
    pub(super) fn selection(&self, rooms: &[Room], except: &[Room]) -> Vec<u64> {
        let mut words = Vec::new();
        if rooms.is_empty() {
            words.extend_from_slice(&self.live);
        } else {
            let mut members = Vec::new();
            for room in rooms {
                self.collect_members(room.name(), room.socket(), &mut members);
                for &s in &members {
                    set_bit(&mut words, s);
                }
            }
        }
        for (w, x) in words.iter_mut().zip(self.excluded(except)) {
            *w &= !x;
        }
        for (w, live) in words
            .iter_mut()
            .zip(self.live.iter().chain(std::iter::repeat(&0)))
        {
            *w &= live;
        }
        words
    }

    /// The sockets of bitset `words` join (`add`) or leave each of `dests`;
    /// `words` goes back to the scratch space.
    fn move_words(&mut self, mut words: Vec<u64>, dests: &[Room], add: bool) {
        if words.iter().all(|&w| w == 0) {
            self.scratch_words = words;
            return;
        }
        let limits = self.limits;
        let mut changed = std::mem::take(&mut self.scratch_slots);
        for dest in dests {
            // The socket a dest id room names joins/leaves it through its flag.
            let owner = dest.socket().and_then(|id| self.live_slot(id));
            let mut masked_bit = None;
            if let Some(s) = owner {
                let (w, b) = (s as usize >> 6, 1u64 << (s & 63));
                if words.get(w).is_some_and(|x| x & b != 0) {
                    self.slots[s as usize].own_room = add;
                    words[w] &= !b;
                    masked_bit = Some((w, b));
                }
            }
            changed.clear();
            if add {
                let idx = self.room_or_create(dest.name());
                self.room_mut(idx)
                    .members
                    .union_words(&words, limits, |s| changed.push(s));
                let max = self.hub.config.max_rooms_per_socket;
                for &s in &changed {
                    if self.slots[s as usize].rooms.len() < max {
                        self.slots[s as usize].rooms.push(idx);
                        self.memberships += 1;
                    } else {
                        // Already in the most rooms it may be in: not moved.
                        self.room_mut(idx).members.remove(s, limits);
                    }
                }
                self.drop_room_if_empty(idx);
            } else if let Some(&idx) = self.room_index.get(dest.name()) {
                self.room_mut(idx)
                    .members
                    .subtract_words(&words, limits, |s| changed.push(s));
                for &s in &changed {
                    let rooms = &mut self.slots[s as usize].rooms;
                    if let Some(pos) = rooms.iter().position(|&r| r == idx) {
                        rooms.remove(pos);
                    }
                }
                self.memberships -= changed.len();
                self.drop_room_if_empty(idx);
            }
            if let Some((w, b)) = masked_bit {
                words[w] |= b;
            }
        }
        self.scratch_slots = changed;
        self.scratch_words = words;
    }
}

/// Adds slot `s` to bitset `words`, growing it as needed.
fn set_bit(words: &mut Vec<u64>, s: u32) {
    let w = s as usize >> 6;
    if w >= words.len() {
        words.resize(w + 1, 0);
    }
    words[w] |= 1 << (s & 63);
}

/// Whether slot `s` is in bitset `words` (an empty set holds nothing).
fn is_set(words: &[u64], s: u32) -> bool {
    words
        .get(s as usize >> 6)
        .is_some_and(|w| w & (1 << (s & 63)) != 0)
}
