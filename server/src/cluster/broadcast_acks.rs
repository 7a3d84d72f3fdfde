//! [`BroadcastAcks`]: socket.io broadcasts with acks that this node delivered
//! (`io.timeout(ms).to(room).emit(ev, …, callback)` on a socket.io node of a
//! mixed cluster), waiting for its clients' acks. Sans-IO.
//!
//! Each such broadcast gets an ack id of this node's; its frame carries that
//! id to every recipient (as socket.io uses one id for all of them), so each
//! client's ACK names it. The node reports how many clients it sent the
//! broadcast to, then forwards each ack to the requester — at most that many,
//! and only until the requester's timeout: a client cannot make the node
//! publish more acks than there were recipients, nor keep an entry alive.

use std::collections::HashMap;

/// Most broadcasts with acks waiting at once; beyond it a broadcast is
/// delivered without an ack id (and its clients' acks are not collected).
pub(crate) const MAX_PENDING: usize = 10_000;
/// Longest wait honoured, whatever the requester's timeout.
pub(crate) const MAX_TIMEOUT_MS: u64 = 120_000;
/// Acks forwarded for one broadcast before its client count is known.
const MAX_EARLY_ACKS: usize = 1 << 16;

#[derive(Debug)]
struct Entry {
    request_id: String,
    /// Clients it went to, once known.
    clients: Option<usize>,
    /// Acks forwarded so far.
    acked: usize,
    deadline: u64,
}

/// The broadcasts with acks this node is collecting acks for.
#[derive(Debug, Default)]
pub(crate) struct BroadcastAcks {
    entries: HashMap<u64, Entry>,
    next_id: u64,
}

impl BroadcastAcks {
    /// A new ack id for the broadcast of `request_id`, waiting `timeout_ms`
    /// from `now`; `None` when too many are waiting.
    pub(crate) fn register(&mut self, request_id: &str, now: u64, timeout_ms: u64) -> Option<u64> {
        if self.entries.len() >= MAX_PENDING {
            return None;
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.entries.insert(
            id,
            Entry {
                request_id: request_id.to_owned(),
                clients: None,
                acked: 0,
                deadline: now + timeout_ms.min(MAX_TIMEOUT_MS),
            },
        );
        Some(id)
    }

    /// How many clients broadcast `id` went to.
    pub(crate) fn set_clients(&mut self, id: u64, clients: usize) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.clients = Some(clients);
            if e.acked >= clients {
                self.entries.remove(&id);
            }
        }
    }

    /// A client acked `id`: the request to forward the ack to, or `None` (an
    /// unknown or expired id, or more acks than recipients).
    pub(crate) fn on_ack(&mut self, id: u64, now: u64) -> Option<String> {
        let e = self.entries.get_mut(&id)?;
        let limit = e.clients.unwrap_or(MAX_EARLY_ACKS);
        if now >= e.deadline || e.acked >= limit {
            return None;
        }
        e.acked += 1;
        let request_id = e.request_id.clone();
        if e.clients.is_some_and(|c| e.acked >= c) {
            self.entries.remove(&id);
        }
        Some(request_id)
    }

    /// Forgets the broadcasts whose requester stopped waiting.
    pub(crate) fn sweep(&mut self, now: u64) {
        self.entries.retain(|_, e| now < e.deadline);
    }

    /// Broadcasts waiting for acks.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_are_forwarded_up_to_the_client_count_and_until_the_timeout() {
        let mut a = BroadcastAcks::default();
        let id = a.register("req1", 1000, 500).unwrap();
        let other = a.register("req2", 1000, 500).unwrap();
        assert_ne!(id, other);
        // An ack may come before the count is known.
        assert_eq!(a.on_ack(id, 1001).as_deref(), Some("req1"));
        a.set_clients(id, 2);
        assert_eq!(a.on_ack(id, 1002).as_deref(), Some("req1"));
        // A third ack (a client acking twice, or a forged one) is not forwarded.
        assert_eq!(a.on_ack(id, 1003), None);
        assert_eq!(a.len(), 1, "done with req1");
        // Unknown ids, and acks after the requester's timeout, go nowhere.
        assert_eq!(a.on_ack(999, 1003), None);
        a.set_clients(other, 5);
        assert_eq!(a.on_ack(other, 1500), None);
        a.sweep(1500);
        assert_eq!(a.len(), 0);
        // A broadcast that reached nobody is done at once.
        let none = a.register("req3", 0, 100).unwrap();
        a.set_clients(none, 0);
        assert_eq!(a.len(), 0);
        assert_eq!(a.on_ack(none, 1), None);
    }

    #[test]
    fn bounded() {
        let mut a = BroadcastAcks::default();
        for i in 0..MAX_PENDING {
            assert!(a.register(&i.to_string(), 0, u64::MAX).is_some());
        }
        assert!(a.register("one too many", 0, 10).is_none());
        // The longest wait is capped.
        a.sweep(MAX_TIMEOUT_MS);
        assert_eq!(a.len(), 0);
    }
}
