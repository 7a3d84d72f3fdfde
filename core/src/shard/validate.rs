//! [`Shard::validate`]: the invariant checker run after every step of the model
//! tests and the fuzz target.

use super::{Shard, SlotState};

impl Shard {
    /// Checks every internal invariant: the liveness table and live bitset agree
    /// with the slots; each socket's room list agrees with the rooms' member sets;
    /// no room is empty or kept twice; cached lengths match popcounts; nothing
    /// pends between ticks; backlogs hold what they count. Returns a description
    /// of the first violation.
    ///
    /// # Errors
    ///
    /// A description of what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let liveness = &self.link().liveness;
        let mut live = 0;
        let mut memberships = 0;
        for (i, s) in self.slots.iter().enumerate() {
            let slot = i as u32;
            let bit = self
                .live
                .get(i >> 6)
                .is_some_and(|w| w & (1 << (i & 63)) != 0);
            let is_live = s.state == SlotState::Live;
            if bit != is_live {
                return Err(format!(
                    "slot {slot}: live bit {bit} but state {:?}",
                    s.state
                ));
            }
            let table = liveness.get(slot);
            if is_live {
                live += 1;
                if table != crate::liveness::live_key(s.token, s.gen) || s.token == 0 {
                    return Err(format!("slot {slot}: liveness table disagrees"));
                }
            } else if table != 0 {
                return Err(format!("slot {slot}: not live but in the liveness table"));
            }
            if !is_live && (!s.rooms.is_empty() || s.own_room) {
                return Err(format!("slot {slot}: not live but in rooms"));
            }
            if s.state == SlotState::Free && !self.free.contains(&slot) {
                return Err(format!("slot {slot}: free but not on the free list"));
            }
            for (j, &r) in s.rooms.iter().enumerate() {
                if s.rooms[..j].contains(&r) {
                    return Err(format!("slot {slot}: room {r} listed twice"));
                }
                match self.rooms.get(r as usize).and_then(Option::as_ref) {
                    Some(room) if room.members.contains(slot) => {}
                    _ => return Err(format!("slot {slot}: lists room {r} it is not in")),
                }
            }
            memberships += s.rooms.len();
        }
        if live != self.live_count {
            return Err(format!(
                "live count {} but {live} live slots",
                self.live_count
            ));
        }
        if memberships != self.memberships {
            return Err(format!(
                "memberships {} but {memberships} counted",
                self.memberships
            ));
        }
        let mut rooms = 0;
        for (i, room) in self.rooms.iter().enumerate() {
            let Some(room) = room else {
                if !self.free_rooms.contains(&(i as u32)) {
                    return Err(format!("room slot {i} empty but not free"));
                }
                continue;
            };
            rooms += 1;
            room.members.validate()?;
            if room.members.is_empty() {
                return Err(format!("room {:?} is empty but kept", room.name));
            }
            if self.room_index.get(&room.name) != Some(&(i as u32)) {
                return Err(format!("room {:?} not indexed", room.name));
            }
            let mut bad = None;
            room.members.for_each(|s| {
                let ok = self
                    .slots
                    .get(s as usize)
                    .is_some_and(|x| x.state == SlotState::Live && x.rooms.contains(&(i as u32)));
                if !ok && bad.is_none() {
                    bad = Some(s);
                }
            });
            if let Some(s) = bad {
                return Err(format!(
                    "room {:?} holds slot {s} that does not list it",
                    room.name
                ));
            }
        }
        if rooms != self.room_index.len() {
            return Err(format!(
                "{} rooms indexed but {rooms} kept",
                self.room_index.len()
            ));
        }
        self.palette.validate()
    }
}
