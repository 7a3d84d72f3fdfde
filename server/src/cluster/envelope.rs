//! [`Envelope`]: one message on the cluster bus, and its encoding (MessagePack,
//! the `rmp-serde` compact form: structs as arrays, enums as single-key maps).
//! Sans-IO: bytes in, values out, and every decoded value checked before anyone
//! acts on it.
//!
//! ```text
//! Envelope = [v, from, stream, seq, body]
//!   v       format version (FORMAT = 1); another version is counted and dropped
//!   from    [name, node, incarnation]: the sender (node = FNV-1a of name;
//!           incarnation = random per process start)
//!   stream  0 unsequenced, 1 the sender's room stream (`{prefix}#all`),
//!           2 the sender's stream to the receiving node (`{prefix}#node#<hex>`)
//!   seq     1, 2, 3… per sender and stream (0 when unsequenced)
//!   body    one of Body's variants
//! ```
//!
//! See `docs/CLUSTER.md` for what each body does and how sequences recover
//! messages lost while a connection to Redis was down.

use roomcast::{Answer, NodeId, Op, Query, SocketId};
use serde::{Deserialize, Serialize};

/// The format version this build writes and reads.
pub(crate) const FORMAT: u8 = 1;

/// Who sent a message: a node's name, number and incarnation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Origin {
    /// The node's name (`--node-id`).
    pub(crate) name: String,
    /// Its number (the hash of `name` every socket id it mints carries).
    pub(crate) node: NodeId,
    /// Random at each start: a restarted node is a new incarnation, whose
    /// sequences start again at 1.
    pub(crate) inc: u64,
}

/// Which of the sender's sequences a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Stream {
    /// Not sequenced: replies, queries, heartbeats and other control messages,
    /// whose loss a timeout covers.
    None,
    /// Operations every node applies (published on `{prefix}#all`).
    All,
    /// Operations for the receiving node only (on its own channel).
    Direct,
}

/// What a message says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Body {
    /// Apply this op (a room op on `All`, an op on the receiver's sockets on
    /// `Direct`).
    Op(Op),
    /// Apply this op on the receiver's sockets, then answer [`Body::Confirmed`].
    Confirm {
        /// The sender's request number.
        req: u64,
        /// The op.
        op: Op,
    },
    /// The answer to [`Body::Confirm`]: applied; these ids are not connected here.
    Confirmed {
        /// The request answered.
        req: u64,
        /// Ids not connected on the answering node.
        unknown: Vec<SocketId>,
    },
    /// Answer this query about the receiver's sockets with [`Body::Answer`].
    Query {
        /// The sender's request number.
        req: u64,
        /// The question.
        query: Query,
    },
    /// The receiver's part of a query.
    Answer {
        /// The request answered.
        req: u64,
        /// The part.
        answer: Answer,
    },
    /// Sent every second on `All`: the sender is alive, with this many sockets;
    /// the last sequence numbers it sent (room stream, and its direct stream to
    /// each node), so a receiver notices a lost tail.
    Heartbeat {
        /// Live sockets on the sender.
        sockets: u64,
        /// Last sequence number on its room stream (0: none yet).
        all_seq: u64,
        /// Last sequence number of its direct stream to each node.
        direct: Vec<(NodeId, u64)>,
        /// In a mixed cluster, its adapter uid in the Node peers' format, so
        /// that roomcast nodes leave each other's Node-format requests alone.
        #[serde(default)]
        compat_uid: Option<String>,
    },
    /// The sender is shutting down: forget it now.
    Bye,
    /// A message in a Node peer's format, published as it is on a
    /// [`Dest::Channel`](super::outbox::Dest::Channel); never part of an
    /// envelope (encoding one is refused).
    #[serde(skip)]
    Foreign(bytes::Bytes),
    /// To the sender of a stream: send again its messages `from..=to` (they were
    /// lost on the way).
    Nack {
        /// Which of the receiver's streams.
        stream: Stream,
        /// First missing sequence number.
        from: u64,
        /// Last missing sequence number.
        to: u64,
    },
    /// The answer to a [`Body::Nack`] for messages no longer kept: up to `upto`,
    /// stop waiting (they are lost).
    Gone {
        /// The stream.
        stream: Stream,
        /// The last sequence number that cannot be sent again.
        upto: u64,
    },
}

/// One message; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Envelope {
    pub(crate) v: u8,
    pub(crate) from: Origin,
    pub(crate) stream: Stream,
    pub(crate) seq: u64,
    pub(crate) body: Body,
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Longer than the largest message accepted.
    TooLarge(usize),
    /// Not a message of any version (not MessagePack, wrong shape).
    Malformed(String),
    /// A message of a format version this build does not read.
    Version(u8),
    /// Well-formed but inconsistent: a name that does not hash to its node
    /// number, a sequenced control message, a bad room name…
    Invalid(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooLarge(n) => write!(f, "message of {n} bytes is too large"),
            DecodeError::Malformed(e) => write!(f, "not a roomcast cluster message: {e}"),
            DecodeError::Version(v) => write!(f, "format version {v} is not supported"),
            DecodeError::Invalid(e) => write!(f, "invalid message: {e}"),
        }
    }
}

impl Envelope {
    /// Encodes the envelope.
    pub(crate) fn encode(&self) -> Vec<u8> {
        // Every field serializes (no maps with non-string keys, no floats):
        // an error here is a bug, and an empty message is dropped by receivers.
        rmp_serde::to_vec(self).unwrap_or_default()
    }

    /// Decodes and checks a message of at most `max_len` bytes whose room names
    /// are at most `max_room_name_len` bytes.
    pub(crate) fn decode(
        bytes: &[u8],
        max_len: usize,
        max_room_name_len: usize,
    ) -> Result<Envelope, DecodeError> {
        if bytes.len() > max_len {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        // The version first, so a future format is reported as such.
        if let Some(v) = peek_version(bytes) {
            if v != FORMAT {
                return Err(DecodeError::Version(v));
            }
        }
        let env: Envelope =
            rmp_serde::from_slice(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        env.check(max_room_name_len)?;
        Ok(env)
    }

    fn check(&self, max_room_name_len: usize) -> Result<(), DecodeError> {
        let invalid = |m: String| Err(DecodeError::Invalid(m));
        match NodeId::from_name(&self.from.name) {
            Ok(n) if n == self.from.node => {}
            Ok(_) => {
                return invalid(format!(
                    "node name {:?} does not match its number",
                    self.from.name
                ))
            }
            Err(e) => return invalid(e.to_string()),
        }
        let sequenced = self.stream != Stream::None;
        if sequenced != (self.seq != 0) {
            return invalid("sequence number and stream disagree".into());
        }
        let op = match &self.body {
            Body::Op(op) | Body::Confirm { op, .. } => Some(op),
            _ => None,
        };
        if sequenced != op.is_some() {
            return invalid("only operations are sequenced".into());
        }
        if let Some(op) = op {
            if (self.stream == Stream::All) != op.is_room_op() {
                return invalid(
                    "room operations travel on the room stream, others directly".into(),
                );
            }
            if matches!(self.body, Body::Confirm { .. }) && self.stream != Stream::Direct {
                return invalid("a confirmation request is direct".into());
            }
            op.validate(max_room_name_len)
                .map_err(|e| DecodeError::Invalid(e.to_string()))?;
        }
        if let Body::Query { query, .. } = &self.body {
            for room in query.rooms() {
                let len = room.name().len();
                if len == 0 || len > max_room_name_len {
                    return invalid(format!("room name of {len} bytes in a query"));
                }
            }
        }
        if let Body::Nack { stream, from, to } = &self.body {
            if *stream == Stream::None || from > to || *from == 0 {
                return invalid("a NACK names a range of a sequenced stream".into());
            }
        }
        Ok(())
    }
}

/// The first field of an encoded envelope (the version), if it is there.
fn peek_version(bytes: &[u8]) -> Option<u8> {
    // A fixarray (0x90..=0x9f) whose first element is a positive fixint.
    match bytes {
        [0x90..=0x9f, v @ 0x00..=0x7f, ..] => Some(*v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use roomcast::op::{Broadcast, LeaveAllOptions};
    use roomcast::{Frame, Room};

    use super::*;

    fn origin(name: &str) -> Origin {
        Origin {
            name: name.into(),
            node: NodeId::from_name(name).unwrap(),
            inc: 42,
        }
    }

    fn env(stream: Stream, seq: u64, body: Body) -> Envelope {
        Envelope {
            v: FORMAT,
            from: origin("node-a"),
            stream,
            seq,
            body,
        }
    }

    #[test]
    fn every_body_round_trips() {
        let id = SocketId::from_parts(NodeId::from_name("node-b").unwrap(), 0, 3, 1, 9);
        let frame = Frame::event_raw("/", "m", Some(r#"{"x":[1,2.50]}"#)).unwrap();
        let cases = [
            env(
                Stream::All,
                7,
                Body::Op(Op::Broadcast(Arc::new(Broadcast {
                    rooms: vec![Room::new("a"), Room::new(&id.to_string())],
                    frame: frame.clone(),
                    omit: Some(id),
                    except: vec![Room::new("muted")],
                }))),
            ),
            env(
                Stream::All,
                8,
                Body::Op(Op::LeaveAll {
                    room: Room::new("r"),
                    options: LeaveAllOptions::default(),
                }),
            ),
            env(
                Stream::Direct,
                1,
                Body::Confirm {
                    req: 5,
                    op: Op::Emit {
                        sockets: smallvec::smallvec![id],
                        frame,
                    },
                },
            ),
            env(
                Stream::None,
                0,
                Body::Confirmed {
                    req: 5,
                    unknown: vec![id],
                },
            ),
            env(
                Stream::None,
                0,
                Body::Query {
                    req: 6,
                    query: Query::Room {
                        room: Room::new("r"),
                        limit: 10,
                    },
                },
            ),
            env(
                Stream::None,
                0,
                Body::Answer {
                    req: 6,
                    answer: Answer::Room {
                        count: 1,
                        members: vec![id],
                    },
                },
            ),
            env(
                Stream::None,
                0,
                Body::Heartbeat {
                    sockets: 3,
                    all_seq: 8,
                    direct: vec![(id.node(), 1)],
                    compat_uid: Some("Ab3dE9".into()),
                },
            ),
            env(Stream::None, 0, Body::Bye),
            env(
                Stream::None,
                0,
                Body::Nack {
                    stream: Stream::All,
                    from: 2,
                    to: 4,
                },
            ),
            env(
                Stream::None,
                0,
                Body::Gone {
                    stream: Stream::Direct,
                    upto: 4,
                },
            ),
        ];
        for e in cases {
            let bytes = e.encode();
            assert_eq!(peek_version(&bytes), Some(FORMAT));
            assert_eq!(Envelope::decode(&bytes, 1 << 20, 256).unwrap(), e);
        }
    }

    #[test]
    fn bad_messages_are_refused_with_a_reason() {
        let good = env(Stream::None, 0, Body::Bye);
        let bytes = good.encode();
        assert_eq!(
            Envelope::decode(&bytes, 3, 256),
            Err(DecodeError::TooLarge(bytes.len()))
        );
        let mut v2 = bytes.clone();
        v2[1] = 2;
        assert_eq!(
            Envelope::decode(&v2, 1 << 20, 256),
            Err(DecodeError::Version(2))
        );
        for junk in [
            &b""[..],
            b"hello",
            b"\x95\x01",
            &bytes[..bytes.len() - 1],
            b"\xc1",
        ] {
            assert!(matches!(
                Envelope::decode(junk, 1 << 20, 256),
                Err(DecodeError::Malformed(_))
            ));
        }
        let mut forged = good.clone();
        forged.from.node = NodeId::from_raw(1);
        let invalid = |e: &Envelope| {
            matches!(
                Envelope::decode(&e.encode(), 1 << 20, 256),
                Err(DecodeError::Invalid(_))
            )
        };
        assert!(invalid(&forged));
        assert!(invalid(&env(Stream::All, 0, Body::Bye)));
        assert!(invalid(&env(Stream::None, 3, Body::Bye)));
        let op = Op::LeaveAll {
            room: Room::new(&"x".repeat(300)),
            options: LeaveAllOptions::default(),
        };
        assert!(invalid(&env(Stream::All, 1, Body::Op(op.clone()))));
        let op = Op::Disconnect {
            socket: SocketId::from_parts(NodeId::LOCAL, 0, 0, 0, 1),
        };
        assert!(
            invalid(&env(Stream::All, 1, Body::Op(op))),
            "socket ops are direct"
        );
        assert!(invalid(&env(
            Stream::None,
            0,
            Body::Nack {
                stream: Stream::All,
                from: 5,
                to: 4
            }
        )));
    }
}
