//! socket.io's requests in a mixed cluster (`--cluster-compat socketio`): what
//! this node does with each request a socket.io node (or the emitter)
//! publishes on `{key}-request#/#`, sans-IO. A roomcast node subscribes to that
//! channel, so socket.io counts it among the servers that answer
//! (`PUBSUB NUMSUB`); it answers every request socket.io waits for:
//!
//! | request | this node |
//! |---|---|
//! | `socketsJoin` / `socketsLeave` (2, 3) | its selected sockets join / leave ([`roomcast::Selected`]) |
//! | `disconnectSockets` (4) | its selected sockets are disconnected |
//! | `fetchSockets` (5) | answers its selected sockets: id, rooms, `data`, address |
//! | `allRooms` (1) | answers its rooms (socket-id rooms not listed) |
//! | Sails' room sockets (0) | answers the ids of its selected sockets |
//! | broadcast with acks (7) | delivers the event with an ack id of its own, answers how many clients it went to, and forwards each client's ack ([`super::broadcast_acks`]) |
//! | `serverSideEmit` (6) | nothing: no server-side listeners run here; with an ack, socket.io's callback times out as with a socket.io node without a listener |
//!
//! Requests from other roomcast nodes (their uids come with their heartbeats)
//! are left alone: roomcast nodes answer each other on roomcast's channels
//! (`super::mixed`). Other namespaces than `/` are not served here (requests carry none: the
//! namespace is in the channel name, and this node subscribes to `/` only).

use std::sync::Arc;

use roomcast::{Answer, Op, Query, Room, Selected, SelectedAction};
use serde_json::{json, Value as Json};

use super::compat::adapter_message::BroadcastMessage;
use super::compat::adapter_request::{FetchedSocket, Request, Response, Target};

/// Most sockets one `fetchSockets` answer lists (per node).
pub(crate) const MAX_FETCH: usize = 10_000;
/// Most rooms one `allRooms` answer lists (per node).
pub(crate) const MAX_ROOMS: usize = 100_000;
/// How long acks are collected when a broadcast with acks names no timeout.
const DEFAULT_ACK_TIMEOUT_MS: u64 = 5_000;

/// What a request asks of this node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Handling {
    /// Apply the op to this node's sockets; answer nothing.
    Apply(Op),
    /// Publish the response.
    Answer(Response),
    /// Ask this node's shards, then publish [`answer`]'s response.
    Ask(Query, Pending),
    /// A broadcast whose sender waits for acks: deliver it (with an ack id
    /// when one is free), answer the client count, forward the acks.
    AckedBroadcast {
        /// What to deliver, and to whom.
        msg: BroadcastMessage,
        /// To answer with.
        request_id: String,
        /// How long the sender waits (`flags.timeout`).
        timeout_ms: u64,
    },
    /// Nothing to do.
    Ignore(&'static str),
}

/// A request waiting for this node's answer to its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    request_id: String,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Sails' SOCKETS: ids only.
    Ids,
    /// ALL_ROOMS.
    Rooms,
    /// REMOTE_FETCH.
    Fetch,
}

fn rooms(names: &[String]) -> Vec<Room> {
    names.iter().map(|r| Room::new(r)).collect()
}

fn selected(target: &Target, action: SelectedAction) -> Op {
    Op::Selected(Arc::new(Selected {
        rooms: rooms(&target.rooms),
        except: rooms(&target.except),
        action,
    }))
}

fn select(target: &Target) -> Query {
    Query::Sockets {
        rooms: rooms(&target.rooms),
        except: rooms(&target.except),
        limit: MAX_FETCH,
    }
}

/// What `req` asks of the node whose adapter uid is `own_uid`.
pub(crate) fn handle(req: Request, own_uid: &str) -> Handling {
    if req.uid() == Some(own_uid) {
        return Handling::Ignore("this node's own request");
    }
    match req {
        Request::RemoteJoin {
            target, rooms: r, ..
        } => Handling::Apply(selected(&target, SelectedAction::Join(rooms(&r)))),
        Request::RemoteLeave {
            target, rooms: r, ..
        } => Handling::Apply(selected(&target, SelectedAction::Leave(rooms(&r)))),
        // `close: false` disconnects the namespace only, leaving the
        // connection open; roomcast serves one namespace, so both close it.
        Request::RemoteDisconnect { target, .. } => {
            Handling::Apply(selected(&target, SelectedAction::Disconnect))
        }
        Request::RemoteFetch {
            request_id, target, ..
        } => Handling::Ask(
            select(&target),
            Pending {
                request_id,
                kind: Kind::Fetch,
            },
        ),
        Request::Sockets {
            request_id, rooms, ..
        } => Handling::Ask(
            select(&Target {
                rooms,
                except: Vec::new(),
            }),
            Pending {
                request_id,
                kind: Kind::Ids,
            },
        ),
        Request::AllRooms { request_id, .. } => Handling::Ask(
            Query::Rooms { limit: MAX_ROOMS },
            Pending {
                request_id,
                kind: Kind::Rooms,
            },
        ),
        Request::ServerSideEmit { .. } => Handling::Ignore("serverSideEmit: no listeners here"),
        Request::Broadcast {
            uid,
            request_id,
            packet,
            opts,
        } => {
            let timeout_ms = opts.flags.timeout().unwrap_or(DEFAULT_ACK_TIMEOUT_MS);
            let msg = BroadcastMessage {
                uid: uid.unwrap_or_default(),
                packet,
                opts,
            };
            match super::bridge::incoming(&msg, own_uid) {
                Ok(_) => Handling::AckedBroadcast {
                    msg,
                    request_id,
                    timeout_ms,
                },
                // Not bridged (binary arguments…): none of this node's
                // clients got it; the sender still waits for every server.
                Err(_) => Handling::Answer(Response::ClientCount {
                    request_id,
                    client_count: 0,
                }),
            }
        }
    }
}

/// The response to `pending` once this node's shards answered.
pub(crate) fn answer(pending: Pending, answer: Answer) -> Response {
    let Pending { request_id, kind } = pending;
    match (kind, answer) {
        (Kind::Fetch, Answer::Sockets { sockets, .. }) => Response::FetchSockets {
            request_id,
            sockets: sockets
                .into_iter()
                .map(|s| FetchedSocket {
                    id: s.id.to_string(),
                    handshake: handshake(s.address.as_deref()),
                    rooms: s.rooms,
                    data: s
                        .data
                        .and_then(|d| serde_json::from_str(&d).ok())
                        .unwrap_or(Json::Null),
                })
                .collect(),
        },
        (Kind::Ids, Answer::Sockets { sockets, .. }) => Response::Sockets {
            request_id,
            sockets: sockets.into_iter().map(|s| s.id.to_string()).collect(),
        },
        (Kind::Rooms, Answer::Rooms { rooms }) => Response::AllRooms { request_id, rooms },
        // The shards answered another query kind: impossible; answer empty
        // rather than leave the requester waiting.
        (Kind::Fetch, _) => Response::FetchSockets {
            request_id,
            sockets: Vec::new(),
        },
        (Kind::Ids, _) => Response::Sockets {
            request_id,
            sockets: Vec::new(),
        },
        (Kind::Rooms, _) => Response::AllRooms {
            request_id,
            rooms: Vec::new(),
        },
    }
}

/// A socket's `handshake` as socket.io describes it; roomcast keeps only the
/// client's address, so the rest is empty.
fn handshake(address: Option<&str>) -> Json {
    json!({
        "headers": {},
        "time": "",
        "address": address.unwrap_or(""),
        "xdomain": false,
        "secure": false,
        "issued": 0,
        "url": "/socket.io/",
        "query": {},
        "auth": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::compat::fixture;
    use roomcast::{NodeId, SocketId, SocketInfo};

    fn target(rooms: &[&str], except: &[&str]) -> Target {
        Target {
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            except: except.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn joins_leaves_and_disconnects_become_selections() {
        let req = Request::RemoteJoin {
            uid: Some("node01".into()),
            target: target(&["a"], &["b"]),
            rooms: vec!["x".into(), "y".into()],
        };
        let Handling::Apply(Op::Selected(s)) = handle(req, "mine00") else {
            panic!()
        };
        assert_eq!(s.rooms, [Room::new("a")]);
        assert_eq!(s.except, [Room::new("b")]);
        assert_eq!(
            s.action,
            SelectedAction::Join(vec![Room::new("x"), Room::new("y")])
        );
        // The emitter sends no uid.
        let req = Request::RemoteDisconnect {
            uid: None,
            target: target(&[], &[]),
            close: true,
        };
        let Handling::Apply(Op::Selected(s)) = handle(req, "mine00") else {
            panic!()
        };
        assert!(s.rooms.is_empty() && s.except.is_empty());
        assert_eq!(s.action, SelectedAction::Disconnect);
        // A node's own request comes back from Redis: ignored.
        let req = Request::RemoteLeave {
            uid: Some("mine00".into()),
            target: target(&["a"], &[]),
            rooms: vec!["x".into()],
        };
        assert!(matches!(handle(req, "mine00"), Handling::Ignore(_)));
    }

    #[test]
    fn captured_requests_are_handled() {
        // What socket.io 4.8 and the emitter published (e2e/peers/captures).
        let kind = |name: &str| match handle(Request::decode(&fixture(name)).unwrap(), "mine00") {
            Handling::Apply(Op::Selected(s)) => match s.action {
                SelectedAction::Join(_) => "join",
                SelectedAction::Leave(_) => "leave",
                SelectedAction::Disconnect => "disconnect",
            },
            Handling::Ask(Query::Sockets { .. }, _) => "sockets",
            Handling::Ask(Query::Rooms { .. }, _) => "rooms",
            Handling::AckedBroadcast { .. } => "broadcast",
            Handling::Ignore(_) => "ignored",
            other => panic!("{name}: {other:?}"),
        };
        for (name, want) in [
            ("socketio-sockets-join-1.bin", "join"),
            ("socketio-sockets-join-by-id.bin", "join"),
            ("socketio-sockets-leave.bin", "leave"),
            ("socketio-disconnect-sockets-1.bin", "disconnect"),
            ("socketio-fetch-sockets-room-1.bin", "sockets"),
            ("socketio-fetch-sockets-all-1.bin", "sockets"),
            ("socketio-all-rooms-1.bin", "rooms"),
            ("socketio-broadcast-with-ack-1.bin", "broadcast"),
            ("socketio-server-side-emit.bin", "ignored"),
            ("socketio-emitter-sockets-join.bin", "join"),
            ("socketio-emitter-sockets-leave.bin", "leave"),
            ("socketio-emitter-disconnect.bin", "disconnect"),
            ("socketio-emitter-server-side-emit.bin", "ignored"),
        ] {
            assert_eq!(kind(name), want, "{name}");
        }
    }

    #[test]
    fn fetch_answers_describe_the_sockets() {
        let req = Request::RemoteFetch {
            uid: Some("node01".into()),
            request_id: "r1".into(),
            target: target(&["a"], &[]),
        };
        let Handling::Ask(query, pending) = handle(req, "mine00") else {
            panic!()
        };
        assert_eq!(
            query,
            Query::Sockets {
                rooms: vec![Room::new("a")],
                except: Vec::new(),
                limit: MAX_FETCH
            }
        );
        let id = SocketId::from_parts(NodeId::from_raw(3), 0, 1, 0, 9);
        let got = answer(
            pending,
            Answer::Sockets {
                count: 1,
                sockets: vec![SocketInfo {
                    id,
                    rooms: vec![id.to_string(), "a".into()],
                    user: Some("ada".into()),
                    data: Some(r#"{"plan":"pro"}"#.into()),
                    address: Some("10.0.0.7".into()),
                }],
            },
        );
        let Response::FetchSockets {
            request_id,
            sockets,
        } = &got
        else {
            panic!("{got:?}")
        };
        assert_eq!(request_id, "r1");
        assert_eq!(sockets[0].id, id.to_string());
        assert_eq!(sockets[0].rooms, [id.to_string(), "a".to_string()]);
        assert_eq!(sockets[0].data, json!({"plan": "pro"}));
        assert_eq!(sockets[0].handshake["address"], "10.0.0.7");
        // And it encodes as socket.io's JSON response.
        let bytes = got.encode().unwrap();
        assert_eq!(Response::decode(&bytes).unwrap(), got);
    }

    #[test]
    fn all_rooms_and_broadcasts_with_acks_are_answered() {
        let req = Request::AllRooms {
            uid: Some("node01".into()),
            request_id: "r2".into(),
        };
        let Handling::Ask(Query::Rooms { .. }, pending) = handle(req, "mine00") else {
            panic!()
        };
        assert_eq!(
            answer(
                pending,
                Answer::Rooms {
                    rooms: vec!["a".into()]
                }
            ),
            Response::AllRooms {
                request_id: "r2".into(),
                rooms: vec!["a".into()]
            }
        );
        let msg = BroadcastMessage::decode(&fixture("socketio-broadcast-room.bin")).unwrap();
        let req = Request::Broadcast {
            uid: Some("node01".into()),
            request_id: "r3".into(),
            packet: msg.packet,
            opts: msg.opts,
        };
        let Handling::AckedBroadcast {
            msg,
            request_id,
            timeout_ms,
        } = handle(req, "mine00")
        else {
            panic!()
        };
        assert_eq!(
            (request_id.as_str(), timeout_ms),
            ("r3", DEFAULT_ACK_TIMEOUT_MS)
        );
        let Ok(Op::Broadcast(b)) = super::super::bridge::incoming_acked(&msg, "mine00", Some(7))
        else {
            panic!()
        };
        assert_eq!(b.frame.payload(), br#"427["news","to room1"]"#);
        // The captured request carries the sender's timeout.
        let req = Request::decode(&fixture("socketio-broadcast-with-ack-1.bin")).unwrap();
        let Handling::AckedBroadcast { timeout_ms, .. } = handle(req, "mine00") else {
            panic!()
        };
        assert_ne!(timeout_ms, DEFAULT_ACK_TIMEOUT_MS);
    }
}
