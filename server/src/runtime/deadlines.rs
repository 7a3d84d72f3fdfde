//! [`DeadlineFifo`]: a worker's timers as a few FIFO lanes instead of a heap.
//!
//! Every connection of a worker uses the same few delays (ping interval, ping
//! timeout, handshake and close timeouts), and "now" only moves forward, so
//! deadlines computed as `now + delay` for one delay arrive already in order. A
//! deadline is appended to the first lane whose last deadline is not later
//! (O(1) for in-order arrivals; a new lane is opened only for one that would go
//! backwards), and the earliest deadline is the smallest of the lanes' fronts. In
//! practice there are about as many lanes as distinct delays, so push, peek and pop
//! are O(1) — where a binary heap pays O(log n) per connection per ping.
//!
//! Entries are not removed when a connection's deadline changes or it closes: the
//! worker checks each popped entry against the connection's current state (lazy
//! deletion), as it would with a heap.

use std::collections::VecDeque;

/// Timers in FIFO lanes; see the module docs.
#[derive(Debug)]
pub(crate) struct DeadlineFifo<T> {
    lanes: Vec<VecDeque<(u64, T)>>,
}

impl<T> Default for DeadlineFifo<T> {
    fn default() -> Self {
        DeadlineFifo { lanes: Vec::new() }
    }
}

impl<T: Copy> DeadlineFifo<T> {
    /// Adds `item`, due at `at`.
    pub(crate) fn push(&mut self, at: u64, item: T) {
        for lane in &mut self.lanes {
            if lane.back().is_none_or(|&(last, _)| last <= at) {
                lane.push_back((at, item));
                return;
            }
        }
        self.lanes.push(VecDeque::from([(at, item)]));
    }

    fn earliest_lane(&self) -> Option<usize> {
        self.lanes
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.front().map(|&(at, _)| (at, i)))
            .min()
            .map(|(_, i)| i)
    }

    /// The earliest deadline, if any.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.earliest_lane()
            .and_then(|i| self.lanes[i].front().map(|&(at, _)| at))
    }

    /// Removes and returns the earliest entry if it is due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<(u64, T)> {
        let i = self.earliest_lane()?;
        if self.lanes[i].front().is_some_and(|&(at, _)| at > now) {
            return None;
        }
        let entry = self.lanes[i].pop_front();
        if self.lanes[i].is_empty() && self.lanes.len() > 1 {
            self.lanes.swap_remove(i);
        }
        entry
    }

    /// Number of lanes (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn lanes(&self) -> usize {
        self.lanes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fixed_delays_need_one_lane_each() {
        let mut q = DeadlineFifo::default();
        let delays = [25_000u64, 20_000, 10_000];
        for now in 0..1000u64 {
            q.push(now + delays[(now % 3) as usize], now);
        }
        assert!(q.lanes() <= 3, "{} lanes", q.lanes());
        let mut last = 0;
        let mut n = 0;
        while let Some((at, _)) = q.pop_due(u64::MAX) {
            assert!(at >= last);
            last = at;
            n += 1;
        }
        assert_eq!(n, 1000);
        assert_eq!(q.next_deadline(), None);
    }

    proptest! {
        #[test]
        fn pops_in_deadline_order_like_a_heap(
            ops in proptest::collection::vec((0u64..1000, any::<bool>(), 0u64..200), 1..300)
        ) {
            let mut q = DeadlineFifo::default();
            let mut model: Vec<u64> = Vec::new();
            let mut now = 0;
            for (at, pop, step) in ops {
                now += step;
                if pop {
                    let due = model.iter().copied().filter(|&d| d <= now).min();
                    let got = q.pop_due(now).map(|(d, _)| d);
                    prop_assert_eq!(got, due);
                    if let Some(d) = due {
                        let i = model.iter().position(|&x| x == d).unwrap();
                        model.swap_remove(i);
                    }
                } else {
                    q.push(at, ());
                    model.push(at);
                }
                prop_assert_eq!(q.next_deadline(), model.iter().copied().min());
            }
        }
    }
}
