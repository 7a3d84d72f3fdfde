//! [`Inbox`]: puts each sender's sequenced messages back in order, drops
//! duplicates, and asks for what was lost. Sans-IO: messages and the clock in,
//! [`Action`]s out.
//!
//! Every sender numbers its room stream and its direct stream to each node
//! 1, 2, 3… ([`Stream`]). For each sender (one incarnation of a node) the inbox
//! keeps the next number it expects on each stream:
//!
//! * the expected number: delivered, and so are the held messages it unblocks;
//! * a lower number: a duplicate (a publish resent after Redis came back, a
//!   replay that crossed the original), dropped and counted;
//! * a higher number: a gap. The message is held, with every later message of
//!   that sender (whatever its stream, so one sender's order is kept), and a
//!   [`Action::Nack`] asks the sender to send the missing range again. The gap
//!   closes when the replays arrive, when the sender answers that it no
//!   longer has them ([`Inbox::gone`]), after `gap_timeout_ms`, or when the
//!   held messages pass `max_held_bytes`; the missing messages are then
//!   counted lost and the held ones delivered.
//!
//! A heartbeat carries the sender's last numbers ([`Inbox::tail`]), so a lost
//! last message is noticed within a heartbeat. The first message or heartbeat
//! of a sender not seen before starts its streams where they are: a node that
//! joins late does not ask for history.

use std::collections::{HashMap, VecDeque};

use roomcast::NodeId;

use super::envelope::{Body, Origin, Stream};

/// Senders remembered at most (the least recently heard is forgotten first).
pub(crate) const MAX_ORIGINS: usize = 1024;

/// What the caller must do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Act on this message now (each sender's come in its order).
    Deliver {
        /// The sender.
        node: NodeId,
        /// Its stream and number.
        stream: Stream,
        seq: u64,
        body: Body,
    },
    /// Ask `node` to send `stream` messages `from..=to` again.
    Nack {
        /// The sender.
        node: NodeId,
        /// Its stream.
        stream: Stream,
        /// First missing number.
        from: u64,
        /// Last missing number.
        to: u64,
    },
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct InboxStats {
    /// Messages received twice and dropped.
    pub(crate) duplicates: u64,
    /// Messages given up on (never received).
    pub(crate) lost: u64,
    /// Gaps noticed.
    pub(crate) gaps: u64,
}

#[derive(Debug)]
struct Held {
    stream: Stream,
    seq: u64,
    body: Body,
    size: usize,
}

#[derive(Debug, Default, Clone, Copy)]
struct Expect {
    /// The next number expected (`None`: nothing seen yet on this stream).
    next: Option<u64>,
    /// The highest number asked for again (or held).
    nacked: u64,
}

#[derive(Debug)]
struct Sender {
    node: NodeId,
    inc: u64,
    all: Expect,
    direct: Expect,
    held: VecDeque<Held>,
    held_bytes: usize,
    /// When the oldest open gap was noticed.
    gap_since: Option<u64>,
    last_heard: u64,
}

impl Sender {
    fn new(node: NodeId, inc: u64, now: u64) -> Sender {
        Sender {
            node,
            inc,
            all: Expect::default(),
            direct: Expect::default(),
            held: VecDeque::new(),
            held_bytes: 0,
            gap_since: None,
            last_heard: now,
        }
    }

    fn expect(&mut self, stream: Stream) -> &mut Expect {
        match stream {
            Stream::Direct => &mut self.direct,
            _ => &mut self.all,
        }
    }
}

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Inbox {
    senders: HashMap<NodeId, Sender>,
    gap_timeout_ms: u64,
    max_held_bytes: usize,
    stats: InboxStats,
}

impl Inbox {
    /// An inbox that waits `gap_timeout_ms` for lost messages and holds at most
    /// `max_held_bytes` meanwhile (per sender).
    pub(crate) fn new(gap_timeout_ms: u64, max_held_bytes: usize) -> Inbox {
        Inbox {
            senders: HashMap::new(),
            gap_timeout_ms,
            max_held_bytes,
            stats: InboxStats::default(),
        }
    }

    pub(crate) fn stats(&self) -> InboxStats {
        self.stats
    }

    /// Messages held behind gaps, over every sender.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.senders.values().map(|s| s.held.len()).sum()
    }

    /// A sequenced message (`size` bytes) from `from`.
    pub(crate) fn accept(
        &mut self,
        from: &Origin,
        stream: Stream,
        seq: u64,
        body: Body,
        size: usize,
        now: u64,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let max_held = self.max_held_bytes;
        let Inbox { senders, stats, .. } = self;
        let s = sender(senders, stats, from, now);
        let e = s.expect(stream);
        let next = *e.next.get_or_insert(seq);
        if seq < next {
            stats.duplicates += 1;
            return out;
        }
        if seq == next {
            e.next = Some(seq + 1);
            out.push(Action::Deliver {
                node: from.node,
                stream,
                seq,
                body,
            });
            release(s, stats, &mut out);
            return out;
        }
        // A gap before `seq` (or `seq` behind one): hold it.
        if e.nacked < seq - 1 {
            let first = next.max(e.nacked + 1);
            e.nacked = seq - 1;
            stats.gaps += 1;
            out.push(Action::Nack {
                node: from.node,
                stream,
                from: first,
                to: seq - 1,
            });
        }
        // Held in arrival order, except that each stream's messages stay sorted
        // (a replay goes before the later messages of its stream).
        let at = s
            .held
            .iter()
            .position(|h| h.stream == stream && h.seq > seq)
            .unwrap_or(s.held.len());
        if s.held.iter().any(|h| h.stream == stream && h.seq == seq) {
            stats.duplicates += 1;
            return out;
        }
        s.held.insert(
            at,
            Held {
                stream,
                seq,
                body,
                size,
            },
        );
        s.held_bytes += size;
        // What is held need not be asked for.
        let e = s.expect(stream);
        e.nacked = e.nacked.max(seq);
        s.gap_since.get_or_insert(now);
        if s.held_bytes > max_held {
            give_up(s, stats, &mut out);
        }
        out
    }

    /// A heartbeat of `from`: its last numbers on the room stream, and on its
    /// direct stream to this node (if it has one). A lost tail is asked for.
    pub(crate) fn tail(
        &mut self,
        from: &Origin,
        all_seq: u64,
        direct_seq: Option<u64>,
        now: u64,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let Inbox { senders, stats, .. } = self;
        let s = sender(senders, stats, from, now);
        for (stream, last) in [(Stream::All, Some(all_seq)), (Stream::Direct, direct_seq)] {
            let Some(last) = last else { continue };
            let e = s.expect(stream);
            match e.next {
                None => e.next = Some(last + 1),
                Some(next) if last >= next && e.nacked < last => {
                    let first = next.max(e.nacked + 1);
                    e.nacked = last;
                    stats.gaps += 1;
                    s.gap_since.get_or_insert(now);
                    out.push(Action::Nack {
                        node: from.node,
                        stream,
                        from: first,
                        to: last,
                    });
                }
                Some(_) => {}
            }
        }
        out
    }

    /// `node` cannot send `stream` messages up to `upto` again: they are lost.
    pub(crate) fn gone(&mut self, node: NodeId, stream: Stream, upto: u64) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(s) = self.senders.get_mut(&node) else {
            return out;
        };
        loop {
            release(s, &mut self.stats, &mut out);
            let first_held = first_held(s, stream);
            let e = s.expect(stream);
            let Some(next) = e.next.filter(|n| *n <= upto) else {
                break;
            };
            // `next` cannot come: skip to the first message held (they did
            // arrive) or past `upto`.
            let resume = (upto + 1).min(first_held.unwrap_or(u64::MAX));
            self.stats.lost += resume - next;
            e.next = Some(resume);
        }
        settle(s);
        out
    }

    /// Gaps older than the timeout are given up on.
    pub(crate) fn sweep(&mut self, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        for s in self.senders.values_mut() {
            if let Some(since) = s.gap_since {
                if now.saturating_sub(since) >= self.gap_timeout_ms {
                    give_up(s, &mut self.stats, &mut out);
                }
            }
        }
        out
    }
}

/// The state of `from`'s current incarnation (a new one starts afresh).
fn sender<'a>(
    senders: &'a mut HashMap<NodeId, Sender>,
    stats: &mut InboxStats,
    from: &Origin,
    now: u64,
) -> &'a mut Sender {
    if !senders.contains_key(&from.node) && senders.len() >= MAX_ORIGINS {
        if let Some(oldest) = senders
            .values()
            .min_by_key(|s| s.last_heard)
            .map(|s| s.node)
        {
            senders.remove(&oldest);
        }
    }
    let s = senders
        .entry(from.node)
        .or_insert_with(|| Sender::new(from.node, from.inc, now));
    if s.inc != from.inc {
        // A restarted node: what the old incarnation left held is lost.
        stats.lost += s.held.len() as u64;
        *s = Sender::new(from.node, from.inc, now);
    }
    s.last_heard = now;
    s
}

/// Delivers held messages from the front while they are the next expected.
fn release(s: &mut Sender, stats: &mut InboxStats, out: &mut Vec<Action>) {
    while let Some(h) = s.held.front() {
        let (stream, seq) = (h.stream, h.seq);
        let e = s.expect(stream);
        let next = e.next.unwrap_or(seq);
        if seq > next {
            return;
        }
        let h = s.held.pop_front().expect("looked");
        s.held_bytes -= h.size;
        if seq < next {
            stats.duplicates += 1;
            continue;
        }
        s.expect(stream).next = Some(seq + 1);
        out.push(Action::Deliver {
            node: s.node,
            stream,
            seq,
            body: h.body,
        });
    }
    settle(s);
}

/// The lowest number held on `stream` (each stream's held messages are sorted).
fn first_held(s: &Sender, stream: Stream) -> Option<u64> {
    s.held.iter().find(|h| h.stream == stream).map(|h| h.seq)
}

/// Ends the gap clock once nothing is held or asked for.
fn settle(s: &mut Sender) {
    let asked = |e: &Expect| e.next.is_some_and(|n| e.nacked >= n);
    if s.held.is_empty() && !asked(&s.all) && !asked(&s.direct) {
        s.gap_since = None;
    }
}

/// Stops waiting: every missing number is lost; what is held is delivered.
fn give_up(s: &mut Sender, stats: &mut InboxStats, out: &mut Vec<Action>) {
    loop {
        release(s, stats, out);
        let Some(h) = s.held.front() else { break };
        let (stream, seq) = (h.stream, h.seq);
        let e = s.expect(stream);
        let next = e.next.unwrap_or(seq);
        stats.lost += seq.saturating_sub(next);
        e.next = Some(seq);
    }
    // Gaps seen by a heartbeat hold nothing: they end where they were asked.
    for stream in [Stream::All, Stream::Direct] {
        let e = s.expect(stream);
        if let Some(next) = e.next.filter(|n| e.nacked >= *n) {
            stats.lost += e.nacked + 1 - next;
            e.next = Some(e.nacked + 1);
        }
    }
    s.gap_since = None;
}

#[cfg(test)]
mod tests {
    use roomcast::op::LeaveAllOptions;
    use roomcast::{Op, Room};

    use super::*;

    fn origin(inc: u64) -> Origin {
        Origin {
            name: "node-a".into(),
            node: NodeId::from_name("node-a").unwrap(),
            inc,
        }
    }

    fn op(n: u64) -> Body {
        Body::Op(Op::LeaveAll {
            room: Room::new(&n.to_string()),
            options: LeaveAllOptions::default(),
        })
    }

    fn delivered(actions: &[Action]) -> Vec<u64> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Deliver {
                    body: Body::Op(Op::LeaveAll { room, .. }),
                    ..
                } => room.name().parse().ok(),
                _ => None,
            })
            .collect()
    }

    fn nacks(actions: &[Action]) -> Vec<(Stream, u64, u64)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Nack {
                    stream, from, to, ..
                } => Some((*stream, *from, *to)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn in_order_duplicates_and_a_late_joiner() {
        let mut ib = Inbox::new(1000, 1 << 20);
        let a = origin(1);
        // A receiver that starts late begins where the sender is.
        assert_eq!(
            delivered(&ib.accept(&a, Stream::All, 40, op(40), 10, 0)),
            [40]
        );
        assert_eq!(
            delivered(&ib.accept(&a, Stream::All, 41, op(41), 10, 0)),
            [41]
        );
        assert!(ib.accept(&a, Stream::All, 41, op(41), 10, 0).is_empty());
        assert!(ib.accept(&a, Stream::All, 12, op(12), 10, 0).is_empty());
        assert_eq!(ib.stats().duplicates, 2);
        // Direct and room streams are numbered apart.
        assert_eq!(
            delivered(&ib.accept(&a, Stream::Direct, 1, op(1), 10, 0)),
            [1]
        );
    }

    #[test]
    fn a_gap_holds_later_messages_until_the_replay_arrives() {
        let mut ib = Inbox::new(1000, 1 << 20);
        let a = origin(1);
        ib.accept(&a, Stream::All, 1, op(1), 10, 0);
        // 2 and 3 are lost; 4 arrives, then a direct message.
        let r = ib.accept(&a, Stream::All, 4, op(4), 10, 5);
        assert!(delivered(&r).is_empty());
        assert_eq!(nacks(&r), [(Stream::All, 2, 3)]);
        let r = ib.accept(&a, Stream::Direct, 1, op(100), 10, 6);
        assert_eq!(delivered(&r), [100], "the first of a stream is not held");
        let r = ib.accept(&a, Stream::All, 5, op(5), 10, 7);
        assert!(r.is_empty(), "held behind the gap, not asked for again");
        assert_eq!(ib.held(), 2);
        // The replays: 3 first (held), then 2 releases everything in order.
        assert!(delivered(&ib.accept(&a, Stream::All, 3, op(3), 10, 8)).is_empty());
        assert_eq!(
            delivered(&ib.accept(&a, Stream::All, 2, op(2), 10, 9)),
            [2, 3, 4, 5]
        );
        assert_eq!(ib.held(), 0);
        // The originals turning up late are duplicates.
        assert!(ib.accept(&a, Stream::All, 3, op(3), 10, 9).is_empty());
        assert_eq!(
            ib.stats(),
            InboxStats {
                duplicates: 1,
                lost: 0,
                gaps: 1
            }
        );
    }

    #[test]
    fn gone_timeout_and_the_hold_bound_count_the_loss() {
        let a = origin(1);
        // The sender no longer has them.
        let mut ib = Inbox::new(1000, 1 << 20);
        ib.accept(&a, Stream::All, 1, op(1), 10, 0);
        ib.accept(&a, Stream::All, 5, op(5), 10, 0);
        assert_eq!(delivered(&ib.gone(a.node, Stream::All, 4)), [5]);
        assert_eq!(ib.stats().lost, 3);
        // Nobody answers: given up after the timeout.
        let mut ib = Inbox::new(1000, 1 << 20);
        ib.accept(&a, Stream::All, 1, op(1), 10, 0);
        ib.accept(&a, Stream::All, 3, op(3), 10, 100);
        assert!(ib.sweep(1099).is_empty());
        assert_eq!(delivered(&ib.sweep(1100)), [3]);
        assert_eq!(ib.stats().lost, 1);
        // Too much held: given up at once.
        let mut ib = Inbox::new(1000, 25);
        ib.accept(&a, Stream::All, 1, op(1), 10, 0);
        ib.accept(&a, Stream::All, 3, op(3), 10, 0);
        ib.accept(&a, Stream::All, 4, op(4), 10, 0);
        assert_eq!(
            delivered(&ib.accept(&a, Stream::All, 5, op(5), 10, 0)),
            [3, 4, 5]
        );
        assert_eq!(ib.stats().lost, 1);
        assert_eq!(ib.held(), 0);
    }

    #[test]
    fn heartbeats_reveal_a_lost_tail_and_restarts_start_afresh() {
        let mut ib = Inbox::new(1000, 1 << 20);
        let a = origin(1);
        // First contact by heartbeat: start after its numbers.
        assert!(ib.tail(&a, 10, Some(3), 0).is_empty());
        assert_eq!(
            delivered(&ib.accept(&a, Stream::All, 11, op(11), 10, 0)),
            [11]
        );
        // 12 and 13 were lost and nothing followed: the heartbeat says so.
        assert_eq!(nacks(&ib.tail(&a, 13, Some(3), 1)), [(Stream::All, 12, 13)]);
        assert!(ib.tail(&a, 13, Some(3), 2).is_empty(), "asked once");
        assert_eq!(
            delivered(&ib.accept(&a, Stream::All, 12, op(12), 10, 3)),
            [12]
        );
        assert_eq!(
            delivered(&ib.accept(&a, Stream::All, 13, op(13), 10, 3)),
            [13]
        );
        // Nothing of 14 ever comes: the timeout counts it lost.
        assert_eq!(nacks(&ib.tail(&a, 14, None, 10)), [(Stream::All, 14, 14)]);
        assert!(ib.sweep(1009).is_empty());
        ib.sweep(1010);
        assert_eq!(ib.stats().lost, 1);
        assert_eq!(
            delivered(&ib.accept(&a, Stream::All, 15, op(15), 10, 1011)),
            [15]
        );
        // A restart (new incarnation) numbers from 1 again.
        let a2 = origin(2);
        assert_eq!(
            delivered(&ib.accept(&a2, Stream::All, 1, op(1), 10, 1012)),
            [1]
        );
    }
}
