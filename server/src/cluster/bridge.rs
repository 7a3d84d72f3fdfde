//! The bridge to a socket.io cluster (`--cluster-compat socketio`): room
//! broadcasts between roomcast's operations and @socket.io/redis-adapter 8's
//! broadcast messages (`compat::adapter_message`), sans-IO.
//!
//! * **In** — a broadcast from a socket.io node or @socket.io/redis-emitter
//!   (any uid but this node's) on namespace `/` becomes a `Broadcast` to its
//!   rooms (a `Blast` when it names none) without the members of its
//!   `except` rooms, applied to this node's sockets only. Not bridged
//!   (counted, logged, skipped): other namespaces (roomcast serves `/` only),
//!   binary arguments, `local` broadcasts (never meant to leave their node).
//! * **Out** — in a mixed cluster a roomcast node publishes its room
//!   broadcasts and blasts in that format only (on `{key}#/#`, or
//!   `{key}#/#{room}#` for one room), so socket.io nodes and the other
//!   roomcast nodes — which read the same channels — get each once. Other
//!   operations (joins and emits by id, leaveAll, room to rooms, queries) stay
//!   on roomcast's own channels: socket.io nodes neither send nor read them
//!   there (docs/CLUSTER.md, "Mixed clusters").
//! * **Sails** (`--cluster-compat sails`) — the same broadcasts, plus the
//!   admin bus ([`AdminMessage`]) both ways: a Sails node's `join`/`leave`
//!   (a socket id or a room as the source) and `leaveAll` become
//!   `AddMembers`/`RemoveMembers`/`LeaveAll` on this node's sockets, and
//!   roomcast's own room-to-room moves and leaveAll (with Sails' options) go
//!   out there only.

use std::sync::Arc;

use roomcast::op::{Broadcast, RoomToRooms};
use roomcast::wire::{self, Frame};
use roomcast::{LeaveAllOptions, Op, Room};

use super::compat::adapter_message::{BroadcastMessage, BroadcastOpts, Packet};
use super::compat::admin_bus::{AdminEvent, AdminMessage};
use super::compat::channel::broadcast_channel;

/// Why a foreign broadcast is not bridged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    /// Published by this node (Redis sends a node its own messages).
    Own,
    /// Not namespace `/`.
    Namespace,
    /// Not a plain event (binary arguments, or another packet type).
    Unsupported(&'static str),
    /// `local`: for its own node only.
    Local,
}

/// The operation a socket.io broadcast is on this node.
pub(crate) fn incoming(msg: &BroadcastMessage, own_uid: &str) -> Result<Op, Skip> {
    incoming_acked(msg, own_uid, None)
}

/// [`incoming`], the frame carrying ack id `ack` when set (a broadcast with
/// acks: `42<id>[…]`, one id for every recipient, as socket.io does).
pub(crate) fn incoming_acked(
    msg: &BroadcastMessage,
    own_uid: &str,
    ack: Option<u64>,
) -> Result<Op, Skip> {
    if msg.uid == own_uid {
        return Err(Skip::Own);
    }
    if msg.packet.nsp != "/" {
        return Err(Skip::Namespace);
    }
    if msg.packet.packet_type != 2 {
        return Err(Skip::Unsupported("a packet that is not an EVENT"));
    }
    if !msg.packet.attachments.is_empty() {
        return Err(Skip::Unsupported("binary arguments"));
    }
    if msg.opts.flags.local() {
        return Err(Skip::Local);
    }
    let frame = match ack {
        Some(id) => Frame::text(&format!("42{id}{}", msg.packet.args_json)),
        None => Frame::text(&format!("42{}", msg.packet.args_json)),
    };
    let except: Vec<Room> = msg.opts.except.iter().map(|r| Room::new(r)).collect();
    Ok(if msg.opts.rooms.is_empty() {
        Op::Blast {
            frame,
            omit: None,
            except,
        }
    } else {
        Op::Broadcast(std::sync::Arc::new(Broadcast {
            rooms: msg.opts.rooms.iter().map(|r| Room::new(r)).collect(),
            frame,
            omit: None,
            except,
        }))
    })
}

/// What a roomcast node publishes for `op` in a mixed cluster: the channel
/// and the message; `None` for operations that stay on roomcast's channels.
pub(crate) fn outgoing(op: &Op, uid: &str, key: &str) -> Option<(String, Vec<u8>)> {
    let (rooms, frame, omit, except) = match op {
        Op::Broadcast(b) => (
            b.rooms.iter().map(|r| r.name().to_owned()).collect(),
            &b.frame,
            b.omit,
            &b.except,
        ),
        Op::Blast {
            frame,
            omit,
            except,
        } => (Vec::new(), frame, *omit, except),
        _ => return None,
    };
    let args_json = event_args(frame)?;
    let mut except: Vec<String> = except.iter().map(|r| r.name().to_owned()).collect();
    if let Some(id) = omit {
        // A socket is its own room for socket.io: omitting it is excepting it.
        except.push(id.to_string());
    }
    let msg = BroadcastMessage {
        uid: uid.to_owned(),
        packet: Packet {
            packet_type: 2,
            nsp: "/".to_owned(),
            id: None,
            args_json,
            attachments: Vec::new(),
        },
        opts: BroadcastOpts {
            rooms,
            except,
            ..BroadcastOpts::default()
        },
    };
    let channel = broadcast_channel(key, "/", &msg.opts.rooms);
    msg.encode().ok().map(|bytes| (channel, bytes))
}

/// The operation a message of the Sails admin bus is on this node.
pub(crate) fn incoming_admin(msg: &AdminMessage, own_uid: &str) -> Result<Op, Skip> {
    if msg.uid == own_uid {
        return Err(Skip::Own);
    }
    let moved = |dests: &[String]| {
        Arc::new(RoomToRooms {
            source: Room::new(&msg.source),
            dests: dests.iter().map(|r| Room::new(r)).collect(),
        })
    };
    Ok(match &msg.event {
        AdminEvent::Join(dests) => Op::AddMembers(moved(dests)),
        AdminEvent::Leave(dests) => Op::RemoveMembers(moved(dests)),
        AdminEvent::LeaveAll => Op::LeaveAll {
            room: Room::new(&msg.source),
            options: LeaveAllOptions::default(),
        },
    })
}

/// What a roomcast node of a Sails cluster publishes on the admin bus for
/// `op`: room-to-room moves, and leaveAll with Sails' options (the source
/// room left too, socket-id rooms kept); `None` for anything else.
pub(crate) fn outgoing_admin(op: &Op, uid: &str) -> Option<Vec<u8>> {
    let names = |rooms: &[Room]| rooms.iter().map(|r| r.name().to_owned()).collect();
    let (source, event) = match op {
        Op::AddMembers(m) => (&m.source, AdminEvent::Join(names(&m.dests))),
        Op::RemoveMembers(m) => (&m.source, AdminEvent::Leave(names(&m.dests))),
        Op::LeaveAll { room, options } if *options == LeaveAllOptions::default() => {
            (room, AdminEvent::LeaveAll)
        }
        _ => return None,
    };
    Some(
        AdminMessage {
            uid: uid.to_owned(),
            source: source.name().to_owned(),
            event,
        }
        .encode(),
    )
}

/// The event data array of a frame holding one `42[…]` event on `/` (what
/// roomcast's broadcasts carry); `None` for anything else.
fn event_args(frame: &Frame) -> Option<String> {
    let (opcode, payload, used) = wire::parse_frame(frame.as_bytes())?;
    if opcode != wire::OP_TEXT || used != frame.len() {
        return None;
    }
    let text = std::str::from_utf8(payload).ok()?;
    let args = text.strip_prefix("42")?;
    args.starts_with('[').then(|| args.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::compat::fixture;
    use roomcast::{NodeId, SocketId};

    #[test]
    fn socket_io_broadcasts_become_operations() {
        let msg = BroadcastMessage::decode(&fixture("socketio-broadcast-all.bin")).unwrap();
        match incoming(&msg, "mine00").unwrap() {
            Op::Blast {
                frame,
                omit,
                except,
            } => {
                assert_eq!(frame.payload(), br#"42["news",{"hello":"world","n":1}]"#);
                assert_eq!((omit, except.len()), (None, 0));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(incoming(&msg, &msg.uid.clone()).unwrap_err(), Skip::Own);
        let msg = BroadcastMessage::decode(&fixture("socketio-broadcast-room.bin")).unwrap();
        let Op::Broadcast(b) = incoming(&msg, "mine00").unwrap() else {
            panic!()
        };
        assert_eq!(b.rooms, [Room::new("room1")]);
        assert_eq!(b.frame.payload(), br#"42["news","to room1"]"#);
        let msg = BroadcastMessage::decode(&fixture("socketio-broadcast-except.bin")).unwrap();
        let op = incoming(&msg, "mine00").unwrap();
        let except = match &op {
            Op::Broadcast(b) => b.except.clone(),
            Op::Blast { except, .. } => except.clone(),
            _ => panic!(),
        };
        assert!(!except.is_empty(), "{op:?}");
        let msg = BroadcastMessage::decode(&fixture("socketio-broadcast-nsp-admin.bin")).unwrap();
        assert_eq!(incoming(&msg, "mine00").unwrap_err(), Skip::Namespace);
        let msg = BroadcastMessage::decode(&fixture("socketio-broadcast-binary.bin")).unwrap();
        assert!(matches!(
            incoming(&msg, "mine00"),
            Err(Skip::Unsupported(_))
        ));
        let msg = BroadcastMessage::decode(&fixture("socketio-emitter-room.bin")).unwrap();
        assert!(matches!(incoming(&msg, "mine00"), Ok(Op::Broadcast(_))));
    }

    #[test]
    fn roomcast_broadcasts_go_out_as_socket_io_publishes_them() {
        // io.to("room1").emit("news", "to room1") from a node whose uid is that
        // of the capture: the same channel, the same bytes.
        let captured = fixture("socketio-broadcast-room.bin");
        let uid = BroadcastMessage::decode(&captured).unwrap().uid;
        let op = Op::Broadcast(std::sync::Arc::new(Broadcast {
            rooms: vec![Room::new("room1")],
            frame: Frame::event_raw("/", "news", Some("\"to room1\"")).unwrap(),
            omit: None,
            except: Vec::new(),
        }));
        let (channel, bytes) = outgoing(&op, &uid, "socket.io").unwrap();
        assert_eq!(channel, "socket.io#/#room1#");
        assert_eq!(bytes, captured);
        // A blast omitting a socket: to all, except that socket's room.
        let id = SocketId::from_parts(NodeId::from_raw(3), 0, 1, 0, 9);
        let op = Op::Blast {
            frame: Frame::event_raw("/", "e", Some("1")).unwrap(),
            omit: Some(id),
            except: vec![Room::new("muted")],
        };
        let (channel, bytes) = outgoing(&op, "abcdef", "app").unwrap();
        assert_eq!(channel, "app#/#");
        let back = BroadcastMessage::decode(&bytes).unwrap();
        assert_eq!(back.uid, "abcdef");
        assert_eq!(back.packet.args_json, r#"["e",1]"#);
        assert!(back.opts.rooms.is_empty());
        assert_eq!(back.opts.except, ["muted".to_owned(), id.to_string()]);
        // Operations on ids are not bridged.
        let join = Op::Join {
            sockets: smallvec::smallvec![id],
            room: Room::new("r"),
        };
        assert!(outgoing(&join, "abcdef", "app").is_none());
    }

    #[test]
    fn the_sails_admin_bus_both_ways() {
        // What a Sails node published for addRoomMembersToRooms("room1",
        // ["room10", "room11"]), and for leaveAll("room10").
        let bytes = fixture("sails-add-room-members-1.bin");
        let msg = AdminMessage::decode(&bytes).unwrap();
        let op = incoming_admin(&msg, "mine00").unwrap();
        let Op::AddMembers(m) = &op else {
            panic!("{op:?}")
        };
        assert_eq!(m.source, Room::new("room1"));
        assert_eq!(m.dests, [Room::new("room10"), Room::new("room11")]);
        // The same move made on roomcast goes out as those bytes.
        assert_eq!(outgoing_admin(&op, "YnhAaF").unwrap(), bytes);
        assert_eq!(incoming_admin(&msg, "YnhAaF").unwrap_err(), Skip::Own);
        let bytes = fixture("sails-leave-all-1.bin");
        let op = incoming_admin(&AdminMessage::decode(&bytes).unwrap(), "mine00").unwrap();
        assert_eq!(
            op,
            Op::LeaveAll {
                room: Room::new("room10"),
                options: LeaveAllOptions::default()
            }
        );
        assert_eq!(outgoing_admin(&op, "YnhAaF").unwrap(), bytes);
        // A leaveAll Sails cannot express, and other ops, stay off the bus.
        let keep_source = Op::LeaveAll {
            room: Room::new("room10"),
            options: LeaveAllOptions {
                include_socket_rooms: false,
                include_source_room: false,
            },
        };
        assert!(outgoing_admin(&keep_source, "YnhAaF").is_none());
        let blast = Op::Blast {
            frame: Frame::event_raw("/", "e", Some("1")).unwrap(),
            omit: None,
            except: Vec::new(),
        };
        assert!(outgoing_admin(&blast, "YnhAaF").is_none());
    }
}
