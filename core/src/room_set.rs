//! [`RoomSet`]: one shard's members of one room, as a set of slot numbers that
//! switches representation with its size (the roaring-rs idea).
//!
//! * **Sorted**: a sorted `SmallVec<[u32; 8]>`, inline (no allocation) up to eight
//!   members; 4 bytes a member. Small rooms — most rooms — stay here.
//! * **Dense**: a bitset of `u64` words over the shard's slot space, with a cached
//!   length; 1 bit a slot. Set algebra (union for `addRoomMembersToRooms`,
//!   difference for `removeRoomMembersFromRooms`) runs a word at a time.
//!
//! A set turns dense when it grows past [`SetLimits::promote`] (chosen by the shard
//! so that the bitset is no bigger than the sorted array would be) and turns back to
//! sorted only when it shrinks below [`SetLimits::demote`], a quarter of that: the
//! gap is the hysteresis that keeps a room hovering at the threshold from
//! converting back and forth.

use smallvec::SmallVec;

/// Members kept inline before a sorted set allocates.
pub(crate) const INLINE: usize = 8;

/// Size thresholds for switching representation; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SetLimits {
    /// A sorted set longer than this becomes dense.
    pub(crate) promote: usize,
    /// A dense set shorter than this becomes sorted.
    pub(crate) demote: usize,
}

impl SetLimits {
    /// Limits for a shard whose slots are `0..high_water`: dense when the bitset
    /// (`high_water / 8` bytes) would be smaller than the sorted array (`4 * len`),
    /// and never below `min` members (the engine's `dense_room_min`).
    pub(crate) fn for_slots(high_water: u32, min: usize) -> SetLimits {
        let promote = (high_water as usize / 32).max(min).max(1);
        SetLimits {
            promote,
            demote: promote / 4,
        }
    }
}

/// A set of slot numbers; see the module docs.
#[derive(Debug, Clone)]
pub(crate) enum RoomSet {
    /// Strictly increasing slots.
    Sorted(SmallVec<[u32; INLINE]>),
    /// Bit `s` of the words is set iff slot `s` is a member; `len` caches the
    /// popcount.
    Dense { words: Vec<u64>, len: usize },
}

impl Default for RoomSet {
    fn default() -> Self {
        RoomSet::Sorted(SmallVec::new())
    }
}

#[inline]
fn word_bit(slot: u32) -> (usize, u64) {
    ((slot >> 6) as usize, 1u64 << (slot & 63))
}

/// Calls `f` with every set bit's index of `words`, in increasing order.
#[inline]
pub(crate) fn for_each_bit(words: &[u64], mut f: impl FnMut(u32)) {
    for (i, &w) in words.iter().enumerate() {
        let mut w = w;
        let base = (i as u32) << 6;
        while w != 0 {
            f(base + w.trailing_zeros());
            w &= w - 1;
        }
    }
}

impl RoomSet {
    pub(crate) fn len(&self) -> usize {
        match self {
            RoomSet::Sorted(v) => v.len(),
            RoomSet::Dense { len, .. } => *len,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn is_dense(&self) -> bool {
        matches!(self, RoomSet::Dense { .. })
    }

    pub(crate) fn contains(&self, slot: u32) -> bool {
        match self {
            RoomSet::Sorted(v) => v.binary_search(&slot).is_ok(),
            RoomSet::Dense { words, .. } => {
                let (w, b) = word_bit(slot);
                words.get(w).is_some_and(|x| x & b != 0)
            }
        }
    }

    /// Adds `slot`; returns whether it was new.
    pub(crate) fn insert(&mut self, slot: u32, limits: SetLimits) -> bool {
        match self {
            RoomSet::Sorted(v) => match v.binary_search(&slot) {
                Ok(_) => false,
                Err(pos) => {
                    v.insert(pos, slot);
                    if v.len() > limits.promote {
                        self.make_dense();
                    }
                    true
                }
            },
            RoomSet::Dense { words, len } => {
                let (w, b) = word_bit(slot);
                if w >= words.len() {
                    words.resize(w + 1, 0);
                }
                if words[w] & b != 0 {
                    return false;
                }
                words[w] |= b;
                *len += 1;
                true
            }
        }
    }

    /// Removes `slot`; returns whether it was there.
    pub(crate) fn remove(&mut self, slot: u32, limits: SetLimits) -> bool {
        let removed = match self {
            RoomSet::Sorted(v) => match v.binary_search(&slot) {
                Ok(pos) => {
                    v.remove(pos);
                    true
                }
                Err(_) => false,
            },
            RoomSet::Dense { words, len } => {
                let (w, b) = word_bit(slot);
                match words.get_mut(w) {
                    Some(x) if *x & b != 0 => {
                        *x &= !b;
                        *len -= 1;
                        true
                    }
                    _ => false,
                }
            }
        };
        if removed {
            self.maybe_demote(limits);
        }
        removed
    }

    /// Calls `f` with every member in increasing order.
    #[inline]
    pub(crate) fn for_each(&self, mut f: impl FnMut(u32)) {
        match self {
            RoomSet::Sorted(v) => v.iter().for_each(|&s| f(s)),
            RoomSet::Dense { words, .. } => for_each_bit(words, f),
        }
    }

    /// Copies the members into `out` (cleared first) as bitset words.
    pub(crate) fn to_words(&self, out: &mut Vec<u64>) {
        out.clear();
        match self {
            RoomSet::Dense { words, .. } => out.extend_from_slice(words),
            RoomSet::Sorted(v) => {
                if let Some(&max) = v.last() {
                    out.resize((max >> 6) as usize + 1, 0);
                    for &s in v {
                        let (w, b) = word_bit(s);
                        out[w] |= b;
                    }
                }
            }
        }
    }

    /// `self |= src` (word-wise when dense), calling `on_new` with each slot that
    /// was not a member before.
    pub(crate) fn union_words(
        &mut self,
        src: &[u64],
        limits: SetLimits,
        mut on_new: impl FnMut(u32),
    ) {
        if let RoomSet::Sorted(v) = self {
            let incoming: usize = src.iter().map(|w| w.count_ones() as usize).sum();
            if v.len() + incoming <= limits.promote {
                for_each_bit(src, |s| {
                    if self.insert(s, limits) {
                        on_new(s);
                    }
                });
                return;
            }
            self.make_dense();
        }
        let RoomSet::Dense { words, len } = self else {
            unreachable!("made dense above")
        };
        if words.len() < src.len() {
            words.resize(src.len(), 0);
        }
        for (i, (&s, d)) in src.iter().zip(words.iter_mut()).enumerate() {
            let new = s & !*d;
            if new != 0 {
                *d |= new;
                *len += new.count_ones() as usize;
                for_each_bit(&[new], |b| on_new(((i as u32) << 6) + b));
            }
        }
    }

    /// `self &= !src` (word-wise when dense), calling `on_removed` with each slot
    /// that was a member.
    pub(crate) fn subtract_words(
        &mut self,
        src: &[u64],
        limits: SetLimits,
        mut on_removed: impl FnMut(u32),
    ) {
        match self {
            RoomSet::Sorted(v) => v.retain(|s| {
                let (w, b) = word_bit(*s);
                let hit = src.get(w).is_some_and(|x| x & b != 0);
                if hit {
                    on_removed(*s);
                }
                !hit
            }),
            RoomSet::Dense { words, len } => {
                for (i, (&s, d)) in src.iter().zip(words.iter_mut()).enumerate() {
                    let gone = s & *d;
                    if gone != 0 {
                        *d &= !gone;
                        *len -= gone.count_ones() as usize;
                        for_each_bit(&[gone], |b| on_removed(((i as u32) << 6) + b));
                    }
                }
            }
        }
        self.maybe_demote(limits);
    }

    fn make_dense(&mut self) {
        if let RoomSet::Sorted(v) = self {
            let mut words = Vec::new();
            RoomSet::Sorted(std::mem::take(v)).to_words(&mut words);
            let len = words.iter().map(|w| w.count_ones() as usize).sum();
            *self = RoomSet::Dense { words, len };
        }
    }

    fn maybe_demote(&mut self, limits: SetLimits) {
        if let RoomSet::Dense { words, len } = self {
            if *len < limits.demote {
                let mut v = SmallVec::with_capacity(*len);
                for_each_bit(words, |s| v.push(s));
                *self = RoomSet::Sorted(v);
            }
        }
    }

    /// Checks the representation's own invariants.
    pub(crate) fn validate(&self) -> Result<(), String> {
        match self {
            RoomSet::Sorted(v) => {
                if v.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(format!("sorted set not strictly increasing: {v:?}"));
                }
            }
            RoomSet::Dense { words, len } => {
                let pop: usize = words.iter().map(|w| w.count_ones() as usize).sum();
                if pop != *len {
                    return Err(format!("dense set caches len {len} but holds {pop}"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    const LIMITS: SetLimits = SetLimits {
        promote: 16,
        demote: 4,
    };

    fn members(s: &RoomSet) -> Vec<u32> {
        let mut v = Vec::new();
        s.for_each(|x| v.push(x));
        v
    }

    #[test]
    fn converts_with_hysteresis() {
        let mut s = RoomSet::default();
        for i in 0..=16 {
            s.insert(i * 3, LIMITS);
        }
        assert!(s.is_dense());
        // Shrinking below promote but above demote keeps it dense.
        for i in 0..10 {
            s.remove(i * 3, LIMITS);
        }
        assert!(s.is_dense(), "7 members, still dense");
        for i in 10..14 {
            s.remove(i * 3, LIMITS);
        }
        assert!(!s.is_dense(), "3 members: sorted again");
        assert_eq!(members(&s), vec![42, 45, 48]);
        s.validate().unwrap();
    }

    #[derive(Debug, Clone)]
    enum SetOp {
        Insert(u32),
        Remove(u32),
        Union(Vec<u32>),
        Subtract(Vec<u32>),
    }

    fn op() -> impl Strategy<Value = SetOp> {
        let slot = 0u32..300;
        prop_oneof![
            4 => slot.clone().prop_map(SetOp::Insert),
            3 => slot.clone().prop_map(SetOp::Remove),
            1 => proptest::collection::vec(slot.clone(), 0..40).prop_map(SetOp::Union),
            1 => proptest::collection::vec(slot, 0..40).prop_map(SetOp::Subtract),
        ]
    }

    fn words_of(v: &[u32]) -> Vec<u64> {
        let mut s = RoomSet::default();
        let big = SetLimits {
            promote: usize::MAX,
            demote: 0,
        };
        for &x in v {
            s.insert(x, big);
        }
        let mut w = Vec::new();
        s.to_words(&mut w);
        w
    }

    proptest! {
        #[test]
        fn agrees_with_btreeset(ops in proptest::collection::vec(op(), 0..200)) {
            let mut set = RoomSet::default();
            let mut model = BTreeSet::new();
            for op in ops {
                match op {
                    SetOp::Insert(x) => prop_assert_eq!(set.insert(x, LIMITS), model.insert(x)),
                    SetOp::Remove(x) => prop_assert_eq!(set.remove(x, LIMITS), model.remove(&x)),
                    SetOp::Union(v) => {
                        let mut new = Vec::new();
                        set.union_words(&words_of(&v), LIMITS, |s| new.push(s));
                        let expect: BTreeSet<u32> = v.iter().copied().filter(|x| !model.contains(x)).collect();
                        prop_assert_eq!(new.iter().copied().collect::<BTreeSet<_>>(), expect);
                        prop_assert_eq!(new.len(), new.iter().collect::<BTreeSet<_>>().len());
                        model.extend(v);
                    }
                    SetOp::Subtract(v) => {
                        let mut gone = Vec::new();
                        set.subtract_words(&words_of(&v), LIMITS, |s| gone.push(s));
                        let expect: BTreeSet<u32> = v.iter().copied().filter(|x| model.contains(x)).collect();
                        prop_assert_eq!(gone.iter().copied().collect::<BTreeSet<_>>(), expect);
                        for x in &v { model.remove(x); }
                    }
                }
                set.validate().map_err(TestCaseError::fail)?;
                prop_assert_eq!(set.len(), model.len());
                prop_assert_eq!(members(&set), model.iter().copied().collect::<Vec<_>>());
                for x in 0..300 { prop_assert_eq!(set.contains(x), model.contains(&x)); }
                if set.is_dense() { prop_assert!(set.len() >= LIMITS.demote); }
                else { prop_assert!(set.len() <= LIMITS.promote); }
            }
        }
    }
}
