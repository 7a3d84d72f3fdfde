//! Test support (feature `fuzzing`): what arrives from Redis, end to end in
//! memory — arbitrary bytes through the bounded RESP reader (fed in chunks of
//! the size the first byte says), every bulk string through the envelope
//! decoder, every decoded message through the inbox.
//!
//! Checks: no panic; the reader never holds more than one line and one bulk
//! string; a decoded envelope encodes back to a message that decodes to the
//! same value; the inbox delivers each sender's stream in strictly increasing
//! order, never twice.

use std::collections::HashMap;

use roomcast::NodeId;

use super::envelope::{Body, Envelope, Stream};
use super::inbox::{Action, Inbox};
use super::resp::{RespReader, Value};

const MAX_BULK: usize = 4096;

/// Runs one input; panics if an invariant breaks. Returns how many messages
/// decoded and how many were delivered.
pub fn drive(data: &[u8]) -> (usize, usize) {
    let Some((&chunk, rest)) = data.split_first() else {
        return (0, 0);
    };
    let chunk = usize::from(chunk).max(1);
    let mut reader = RespReader::new(MAX_BULK);
    let mut bulks: Vec<Vec<u8>> = vec![rest.to_vec()];
    'feed: for piece in rest.chunks(chunk) {
        reader.feed(piece);
        loop {
            match reader.next() {
                Ok(Some(v)) => collect(v, &mut bulks),
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
        assert!(
            reader.buffered() <= MAX_BULK + 4096 + 2 + chunk,
            "reader holds {} bytes",
            reader.buffered()
        );
    }
    let mut inbox = Inbox::new(50, 1 << 16);
    // Per sender: its incarnation, and the last number delivered per stream.
    let mut last: HashMap<NodeId, (u64, HashMap<Stream, u64>)> = HashMap::new();
    let mut now = 0;
    let (mut decoded, mut delivered) = (0, 0);
    for b in &bulks {
        let Ok(env) = Envelope::decode(b, 1 << 20, 256) else {
            continue;
        };
        decoded += 1;
        let again = Envelope::decode(&env.encode(), 1 << 20, 256).expect("re-encoded");
        assert_eq!(again, env, "round trip");
        now += 7;
        let seen = last
            .entry(env.from.node)
            .or_insert((env.from.inc, HashMap::new()));
        if seen.0 != env.from.inc {
            *seen = (env.from.inc, HashMap::new()); // a restart numbers from 1 again
        }
        let mut actions = match (&env.stream, &env.body) {
            (
                Stream::None,
                Body::Heartbeat {
                    all_seq, direct, ..
                },
            ) => inbox.tail(&env.from, *all_seq, direct.first().map(|d| d.1), now),
            (Stream::None, Body::Gone { stream, upto }) => {
                inbox.gone(env.from.node, *stream, *upto)
            }
            (Stream::None, _) => Vec::new(),
            (stream, body) => inbox.accept(&env.from, *stream, env.seq, body.clone(), b.len(), now),
        };
        actions.extend(inbox.sweep(now));
        for a in actions {
            if let Action::Deliver {
                node, stream, seq, ..
            } = a
            {
                delivered += 1;
                let streams = &mut last.entry(node).or_insert((0, HashMap::new())).1;
                if let Some(prev) = streams.insert(stream, seq) {
                    assert!(
                        seq > prev,
                        "{node} {stream:?}: {seq} delivered after {prev}"
                    );
                }
            }
        }
    }
    (decoded, delivered)
}

fn collect(v: Value, out: &mut Vec<Vec<u8>>) {
    match v {
        Value::Bulk(Some(b)) => out.push(b.to_vec()),
        Value::Array(Some(items)) => items.into_iter().for_each(|i| collect(i, out)),
        _ => {}
    }
}

/// Inputs worth starting from: RESP pushes of real messages — ops in order,
/// a gap, a duplicate, a heartbeat, a NACK answer, a restart, junk — each
/// prefixed by a chunk size.
pub fn seeds() -> Vec<Vec<u8>> {
    use std::sync::Arc;

    use roomcast::op::{Broadcast, LeaveAllOptions};
    use roomcast::{Frame, Op, Room, SocketId};

    use super::envelope::{Origin, FORMAT};
    use super::resp::command;

    let origin = |name: &str, inc| Origin {
        name: name.into(),
        node: NodeId::from_name(name).expect("valid"),
        inc,
    };
    let env = |from: &Origin, stream, seq, body| {
        Envelope {
            v: FORMAT,
            from: from.clone(),
            stream,
            seq,
            body,
        }
        .encode()
    };
    let push = |payload: &[u8]| command(&[b"message", b"roomcast#all", payload]);
    let a = origin("node-a", 1);
    let b = origin("node-b", 9);
    let frame = Frame::event_raw("/", "m", Some("[1,2]")).expect("frame");
    let id = SocketId::from_parts(b.node, 0, 1, 0, 7);
    let bcast = |n: u64| {
        Body::Op(Op::Broadcast(Arc::new(Broadcast {
            rooms: vec![Room::new(&format!("r{n}")), Room::new("lobby")],
            frame: frame.clone(),
            omit: None,
            except: Vec::new(),
        })))
    };
    let leave_all = Body::Op(Op::LeaveAll {
        room: Room::new("lobby"),
        options: LeaveAllOptions::default(),
    });
    let join = Body::Confirm {
        req: 3,
        op: Op::Join {
            sockets: smallvec::smallvec![id],
            room: Room::new("x"),
        },
    };
    let scripts: Vec<Vec<Vec<u8>>> = vec![
        // In order, then a duplicate.
        vec![
            env(&a, Stream::All, 1, bcast(1)),
            env(&a, Stream::All, 2, leave_all.clone()),
            env(&a, Stream::All, 2, leave_all.clone()),
        ],
        // A gap, its replay, a direct confirmation request.
        vec![
            env(&a, Stream::All, 1, bcast(1)),
            env(&a, Stream::All, 4, bcast(4)),
            env(&a, Stream::Direct, 1, join.clone()),
            env(&a, Stream::All, 3, bcast(3)),
            env(&a, Stream::All, 2, bcast(2)),
        ],
        // A heartbeat announcing a lost tail, then Gone.
        vec![
            env(&b, Stream::All, 5, bcast(5)),
            env(
                &b,
                Stream::None,
                0,
                Body::Heartbeat {
                    sockets: 3,
                    all_seq: 9,
                    direct: vec![(a.node, 2)],
                    compat_uid: None,
                },
            ),
            env(
                &b,
                Stream::None,
                0,
                Body::Gone {
                    stream: Stream::All,
                    upto: 8,
                },
            ),
            env(&b, Stream::All, 10, bcast(10)),
        ],
        // A restart: the numbers start again.
        vec![
            env(&a, Stream::All, 7, bcast(7)),
            env(&origin("node-a", 2), Stream::All, 1, bcast(1)),
            env(&a, Stream::None, 0, Body::Bye),
        ],
    ];
    let mut out = Vec::new();
    for (i, script) in scripts.into_iter().enumerate() {
        let mut bytes = vec![[255u8, 7, 1, 64][i % 4]];
        for m in script {
            bytes.extend(push(&m));
        }
        out.push(bytes);
    }
    // Junk and a push too large for the reader.
    out.push(b"\x10*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$5\r\nhello\r\n".to_vec());
    let mut big = b"\xff*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$9000\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 9000));
    big.extend(b"\r\n");
    out.push(big);
    out
}
