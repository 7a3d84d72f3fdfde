//! [`Outbox`]: what this node publishes, in order — numbered, encoded, kept
//! until Redis acknowledged it, then kept a while longer to send again to a node
//! that lost it. Sans-IO: the publisher thread feeds it and writes what it says.
//!
//! * **Numbering.** Operations are numbered per stream: one sequence for the
//!   room stream (`{prefix}#all`), one for the direct stream to each node.
//!   Control messages (replies, queries, heartbeats) are not numbered.
//! * **Unsent.** A message stays at the front of `unsent` until a `PUBLISH` of it
//!   was answered by Redis ([`Outbox::acked`]). After a broken connection the
//!   same messages go out again, in the same order, with the same numbers:
//!   receivers drop the copies they already had.
//! * **Sent.** Numbered messages Redis acknowledged stay in a ring of at most
//!   `ring_bytes`, so a receiver that missed some (its subscription was down)
//!   gets them again on its own channel ([`Outbox::replay`]); older ones are
//!   forgotten and the receiver is told so ([`Body::Gone`]).

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use roomcast::NodeId;

use super::envelope::{Body, Envelope, Origin, Stream, FORMAT};

/// Where a message is published.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Dest {
    /// `{prefix}#all`: every node.
    All,
    /// `{prefix}#node#<hex>`: one node.
    Node(NodeId),
    /// A channel of a Node peer's format (`--cluster-compat`): the body is a
    /// [`Body::Foreign`] message, published as it is.
    Channel(std::sync::Arc<str>),
}

/// A message to publish, as the adapter queues it.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) dest: Dest,
    /// Numbered (an operation) or not (control).
    pub(crate) sequenced: bool,
    pub(crate) body: Body,
    /// The bytes it was counted as in the cluster buffer.
    pub(crate) cost: usize,
}

/// A message ready to publish.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) dest: Dest,
    pub(crate) stream: Stream,
    /// The node a direct stream goes to.
    pub(crate) to: Option<NodeId>,
    pub(crate) seq: u64,
    pub(crate) bytes: Bytes,
    /// Bytes of the cluster buffer this entry holds (0 for replays, heartbeats).
    pub(crate) cost: usize,
}

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Outbox {
    origin: Origin,
    all_seq: u64,
    direct_seq: HashMap<NodeId, u64>,
    unsent: VecDeque<Entry>,
    sent: VecDeque<Entry>,
    sent_bytes: usize,
    ring_bytes: usize,
}

impl Outbox {
    /// An outbox for messages from `origin` that keeps up to `ring_bytes` of
    /// sent messages for replays.
    pub(crate) fn new(origin: Origin, ring_bytes: usize) -> Outbox {
        Outbox {
            origin,
            all_seq: 0,
            direct_seq: HashMap::new(),
            unsent: VecDeque::new(),
            sent: VecDeque::new(),
            sent_bytes: 0,
            ring_bytes,
        }
    }

    fn envelope(&self, stream: Stream, seq: u64, body: Body) -> Bytes {
        Bytes::from(
            Envelope {
                v: FORMAT,
                from: self.origin.clone(),
                stream,
                seq,
                body,
            }
            .encode(),
        )
    }

    /// Numbers and encodes `out` and queues it.
    pub(crate) fn push(&mut self, out: Outgoing) {
        if let Body::Foreign(bytes) = out.body {
            // Another format: never numbered, never replayed.
            self.unsent.push_back(Entry {
                dest: out.dest,
                stream: Stream::None,
                to: None,
                seq: 0,
                bytes,
                cost: out.cost,
            });
            return;
        }
        let (stream, to, seq) = match (out.sequenced, &out.dest) {
            (false, _) => (Stream::None, None, 0),
            (true, Dest::All) => {
                self.all_seq += 1;
                (Stream::All, None, self.all_seq)
            }
            (true, Dest::Channel(_)) => (Stream::None, None, 0),
            (true, &Dest::Node(n)) => {
                let s = self.direct_seq.entry(n).or_insert(0);
                *s += 1;
                (Stream::Direct, Some(n), *s)
            }
        };
        let bytes = self.envelope(stream, seq, out.body);
        self.unsent.push_back(Entry {
            dest: out.dest,
            stream,
            to,
            seq,
            bytes,
            cost: out.cost,
        });
    }

    /// A heartbeat for `sockets` live sockets (and this node's adapter uid in
    /// a mixed cluster), queued (not counted in the buffer).
    pub(crate) fn push_heartbeat(&mut self, sockets: u64, compat_uid: Option<&str>) {
        let mut direct: Vec<(NodeId, u64)> =
            self.direct_seq.iter().map(|(n, s)| (*n, *s)).collect();
        direct.sort_unstable();
        let body = Body::Heartbeat {
            sockets,
            all_seq: self.all_seq,
            direct,
            compat_uid: compat_uid.map(str::to_owned),
        };
        let bytes = self.envelope(Stream::None, 0, body);
        self.unsent.push_back(Entry {
            dest: Dest::All,
            stream: Stream::None,
            to: None,
            seq: 0,
            bytes,
            cost: 0,
        });
    }

    /// A control message that is not counted in the buffer (`Bye`, `Gone`).
    pub(crate) fn push_control(&mut self, dest: Dest, body: Body) {
        let bytes = self.envelope(Stream::None, 0, body);
        self.unsent.push_back(Entry {
            dest,
            stream: Stream::None,
            to: None,
            seq: 0,
            bytes,
            cost: 0,
        });
    }

    /// The messages waiting, oldest first.
    pub(crate) fn unsent(&self) -> &VecDeque<Entry> {
        &self.unsent
    }

    /// Redis answered the first `n` unsent messages: they count as sent.
    /// Returns the buffer bytes they held.
    pub(crate) fn acked(&mut self, n: usize) -> usize {
        let mut freed = 0;
        for _ in 0..n.min(self.unsent.len()) {
            let e = self.unsent.pop_front().expect("counted");
            freed += e.cost;
            if e.stream != Stream::None && e.cost > 0 {
                self.sent_bytes += e.bytes.len();
                self.sent.push_back(Entry { cost: 0, ..e });
            }
        }
        while self.sent_bytes > self.ring_bytes {
            let Some(old) = self.sent.pop_front() else {
                break;
            };
            self.sent_bytes -= old.bytes.len();
        }
        freed
    }

    /// Drops every unsent message (the buffer is being given up on); returns
    /// how many numbered ones were dropped and the buffer bytes they held.
    pub(crate) fn drop_unsent(&mut self) -> (usize, usize) {
        let ops = self.unsent.iter().filter(|e| e.cost > 0).count();
        let freed = self.unsent.drain(..).map(|e| e.cost).sum();
        (ops, freed)
    }

    /// `node` lost `stream` messages `from..=to`: queues again those still
    /// kept (on `node`'s channel), and a [`Body::Gone`] for the oldest ones
    /// no longer kept. Messages still unsent are going out anyway.
    pub(crate) fn replay(&mut self, node: NodeId, stream: Stream, from: u64, to: u64) -> usize {
        let last = match stream {
            Stream::All => self.all_seq,
            Stream::Direct => self.direct_seq.get(&node).copied().unwrap_or(0),
            Stream::None => return 0,
        };
        let to = to.min(last);
        if from > to {
            return 0;
        }
        let mine = |e: &Entry| e.stream == stream && (stream == Stream::All || e.to == Some(node));
        // The oldest number still known (sent ring, then unsent).
        let oldest = self
            .sent
            .iter()
            .chain(self.unsent.iter())
            .find(|e| mine(e))
            .map_or(last + 1, |e| e.seq);
        if from < oldest {
            let upto = to.min(oldest - 1);
            self.push_control(Dest::Node(node), Body::Gone { stream, upto });
        }
        let again: Vec<Entry> = self
            .sent
            .iter()
            .filter(|e| mine(e) && (from..=to).contains(&e.seq))
            .map(|e| Entry {
                dest: Dest::Node(node),
                cost: 0,
                ..e.clone()
            })
            .collect();
        let n = again.len();
        self.unsent.extend(again);
        n
    }
}

#[cfg(test)]
mod tests {
    use roomcast::op::LeaveAllOptions;
    use roomcast::{Op, Room};

    use super::*;

    fn origin() -> Origin {
        Origin {
            name: "node-a".into(),
            node: NodeId::from_name("node-a").unwrap(),
            inc: 1,
        }
    }

    fn op(dest: Dest) -> Outgoing {
        Outgoing {
            dest,
            sequenced: true,
            body: Body::Op(Op::LeaveAll {
                room: Room::new("r"),
                options: LeaveAllOptions::default(),
            }),
            cost: 100,
        }
    }

    fn decode(e: &Entry) -> Envelope {
        Envelope::decode(&e.bytes, 1 << 20, 256).unwrap()
    }

    #[test]
    fn numbering_per_stream_and_unacked_messages_stay() {
        let b = NodeId::from_name("node-b").unwrap();
        let mut ob = Outbox::new(origin(), 1 << 20);
        ob.push(op(Dest::All));
        ob.push(op(Dest::Node(b)));
        ob.push(op(Dest::All));
        ob.push_heartbeat(7, None);
        let seqs: Vec<(Stream, u64)> = ob.unsent().iter().map(|e| (e.stream, e.seq)).collect();
        assert_eq!(
            seqs,
            [
                (Stream::All, 1),
                (Stream::Direct, 1),
                (Stream::All, 2),
                (Stream::None, 0)
            ]
        );
        let hb = decode(&ob.unsent()[3]);
        assert_eq!(
            hb.body,
            Body::Heartbeat {
                sockets: 7,
                all_seq: 2,
                direct: vec![(b, 1)],
                compat_uid: None,
            }
        );
        // Two acknowledged; the rest goes out again, unchanged.
        assert_eq!(ob.acked(2), 200);
        assert_eq!(ob.unsent().len(), 2);
        assert_eq!(decode(&ob.unsent()[0]).seq, 2);
    }

    #[test]
    fn replays_come_from_the_ring_and_forgotten_ones_are_gone() {
        let b = NodeId::from_name("node-b").unwrap();
        let size = {
            let mut ob = Outbox::new(origin(), 0);
            ob.push(op(Dest::All));
            ob.unsent()[0].bytes.len()
        };
        // Room for three sent messages.
        let mut ob = Outbox::new(origin(), size * 3);
        for _ in 0..5 {
            ob.push(op(Dest::All));
        }
        ob.acked(5);
        assert_eq!(ob.replay(b, Stream::All, 2, 4), 2);
        let got: Vec<Envelope> = ob.unsent().iter().map(decode).collect();
        assert_eq!(
            got[0].body,
            Body::Gone {
                stream: Stream::All,
                upto: 2
            }
        );
        assert_eq!((got[1].seq, got[2].seq), (3, 4));
        assert!(ob.unsent().iter().all(|e| e.dest == Dest::Node(b)));
        ob.acked(3);
        // A range beyond what was ever sent asks for nothing.
        assert_eq!(ob.replay(b, Stream::All, 9, 12), 0);
        assert!(ob.unsent().is_empty());
        // Direct streams are replayed to their own node only.
        let c = NodeId::from_name("node-c").unwrap();
        ob.push(op(Dest::Node(c)));
        ob.acked(1);
        assert_eq!(ob.replay(b, Stream::Direct, 1, 1), 0);
        assert_eq!(ob.replay(c, Stream::Direct, 1, 1), 1);
        // Giving up on the buffer frees what it held.
        ob.push(op(Dest::All));
        assert_eq!(ob.drop_unsent(), (1, 100));
    }
}
