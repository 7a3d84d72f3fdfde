//! Operations as data: what travels from a handle to the shards that apply it —
//! and, through a cluster [`Adapter`](crate::Adapter), to other processes.
//!
//! Every `sails.sockets` operation is one [`Op`] value. Ops are plain data
//! (`serde`-serializable, no closures), so the same value is sent to a local
//! shard's mailbox, or encoded and published for another node to apply. An op
//! that every shard needs (a broadcast, a room-to-rooms move) shares its body
//! through an `Arc`, so sending it to N shards copies a pointer, not the frame.
//!
//! Ops are built and validated by the engine's dispatch; an op decoded from
//! another process is checked again with [`Op::validate`] before it is applied.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::names::SocketIds;
use crate::wire::Frame;
use crate::{Error, SocketId};

/// Options of `leaveAll`, named and defaulted as in Sails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveAllOptions {
    /// Also make each member leave the room named by its own id (default false).
    pub include_socket_rooms: bool,
    /// Also make each member leave the source room itself (default true).
    pub include_source_room: bool,
}

impl Default for LeaveAllOptions {
    fn default() -> Self {
        LeaveAllOptions {
            include_socket_rooms: false,
            include_source_room: true,
        }
    }
}

/// A room named in an operation, with its socket-id reading worked out once: a
/// room named by a socket id has that socket as a (virtual) member. Serialized as
/// its name.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Room {
    name: Arc<str>,
    id: Option<SocketId>,
}

impl Room {
    /// The room called `name` (not validated: dispatch checks names against the
    /// engine's limits).
    #[must_use]
    pub fn new(name: &str) -> Room {
        Room {
            name: Arc::from(name),
            id: SocketId::parse(name),
        }
    }

    /// The name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The socket this room is the id room of, if its name is a socket id.
    #[must_use]
    pub fn socket(&self) -> Option<SocketId> {
        self.id
    }

    pub(crate) fn shared_name(&self) -> &Arc<str> {
        &self.name
    }
}

impl fmt::Debug for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.name, f)
    }
}

impl Serialize for Room {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for Room {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Room, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Room::new(&name))
    }
}

/// A broadcast: `frame` to every member of any of `rooms` (once each), but `omit`
/// and the members of any of `except`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broadcast {
    /// The rooms, each named once.
    pub rooms: Vec<Room>,
    /// The encoded event.
    pub frame: Frame,
    /// A socket that receives nothing.
    pub omit: Option<SocketId>,
    /// Rooms whose members receive nothing (socket.io's `except`; a socket-id
    /// room excludes that socket). Empty for Sails' operations.
    #[serde(default)]
    pub except: Vec<Room>,
}

/// `addRoomMembersToRooms` / `removeRoomMembersFromRooms`: the members of
/// `source` (a snapshot) join or leave each of `dests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomToRooms {
    /// The room whose members move.
    pub source: Room,
    /// The rooms they join or leave, each named once.
    pub dests: Vec<Room>,
}

/// What [`Selected`] does to the sockets it selects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelectedAction {
    /// They join each of these rooms.
    Join(Vec<Room>),
    /// They leave each of these rooms.
    Leave(Vec<Room>),
    /// They are disconnected.
    Disconnect,
}

/// socket.io's `io.in(rooms).except(except).socketsJoin(…)`, `.socketsLeave(…)`
/// and `.disconnectSockets()`, as a socket.io node of a mixed cluster asks them:
/// the sockets in any of `rooms` (every socket when `rooms` is empty) that are
/// in none of `except` (a snapshot) undergo `action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selected {
    /// Rooms whose members are selected (socket-id rooms included); empty: all.
    pub rooms: Vec<Room>,
    /// Rooms whose members are not.
    pub except: Vec<Room>,
    /// What happens to them.
    pub action: SelectedAction,
}

/// One operation; see the [module docs](self). Operations naming sockets go only
/// to their owners; operations naming rooms go to every shard of every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// These sockets join the room.
    Join {
        /// Sockets of the receiving shard (or node).
        #[serde(deserialize_with = "crate::names::deserialize_socket_ids")]
        sockets: SocketIds,
        /// The room.
        room: Room,
    },
    /// These sockets leave the room.
    Leave {
        /// Sockets of the receiving shard (or node).
        #[serde(deserialize_with = "crate::names::deserialize_socket_ids")]
        sockets: SocketIds,
        /// The room.
        room: Room,
    },
    /// See [`Broadcast`].
    Broadcast(Arc<Broadcast>),
    /// `frame` to every connected socket but `omit`.
    Blast {
        /// The encoded event.
        frame: Frame,
        /// A socket that receives nothing.
        omit: Option<SocketId>,
        /// Rooms whose members receive nothing (see [`Broadcast::except`]).
        #[serde(default)]
        except: Vec<Room>,
    },
    /// `frame` to each of these sockets (their owner checked, before sending,
    /// that every one is connected).
    Emit {
        /// Sockets of the receiving shard (or node).
        #[serde(deserialize_with = "crate::names::deserialize_socket_ids")]
        sockets: SocketIds,
        /// The encoded event.
        frame: Frame,
    },
    /// Every member of `room` leaves every room it is in (see [`LeaveAllOptions`]).
    LeaveAll {
        /// The source room.
        room: Room,
        /// Which rooms are left.
        options: LeaveAllOptions,
    },
    /// See [`RoomToRooms`]: the members join each destination.
    AddMembers(Arc<RoomToRooms>),
    /// See [`RoomToRooms`]: the members leave each destination.
    RemoveMembers(Arc<RoomToRooms>),
    /// The socket is disconnected (its owner closes its transport).
    Disconnect {
        /// The socket.
        socket: SocketId,
    },
    /// See [`Selected`].
    Selected(Arc<Selected>),
}

impl Op {
    /// Whether the op names rooms (so every shard of every node applies it) rather
    /// than sockets (only their owners do).
    #[must_use]
    pub fn is_room_op(&self) -> bool {
        matches!(
            self,
            Op::Broadcast(_)
                | Op::Blast { .. }
                | Op::LeaveAll { .. }
                | Op::AddMembers(_)
                | Op::RemoveMembers(_)
                | Op::Selected(_)
        )
    }

    /// Checks an op that came from outside the process: every room name is
    /// non-empty and at most `max_room_name_len` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRoomName`] for the first bad name.
    pub fn validate(&self, max_room_name_len: usize) -> Result<(), Error> {
        let check = |r: &Room| {
            let len = r.name().len();
            if len == 0 || len > max_room_name_len {
                Err(Error::InvalidRoomName {
                    len,
                    max: max_room_name_len,
                })
            } else {
                Ok(())
            }
        };
        match self {
            Op::Join { room, .. } | Op::Leave { room, .. } | Op::LeaveAll { room, .. } => {
                check(room)
            }
            Op::Broadcast(b) => b.rooms.iter().chain(&b.except).try_for_each(check),
            Op::Blast { except, .. } => except.iter().try_for_each(check),
            Op::AddMembers(o) | Op::RemoveMembers(o) => {
                check(&o.source)?;
                o.dests.iter().try_for_each(check)
            }
            Op::Selected(o) => {
                let dests = match &o.action {
                    SelectedAction::Join(d) | SelectedAction::Leave(d) => d.as_slice(),
                    SelectedAction::Disconnect => &[],
                };
                o.rooms
                    .iter()
                    .chain(&o.except)
                    .chain(dests)
                    .try_for_each(check)
            }
            Op::Emit { .. } | Op::Disconnect { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeId;

    #[test]
    fn ops_round_trip_as_data_and_bad_frames_are_refused() {
        let id = SocketId::from_parts(NodeId::from_raw(4), 1, 2, 3, 99);
        let frame = Frame::event_raw("/", "e", Some(r#"{"a":1}"#)).unwrap();
        let ops = [
            Op::Join {
                sockets: smallvec::smallvec![id],
                room: Room::new("r"),
            },
            Op::Broadcast(Arc::new(Broadcast {
                rooms: vec![Room::new("a"), Room::new(&id.to_string())],
                frame: frame.clone(),
                omit: Some(id),
                except: vec![Room::new("x")],
            })),
            Op::Blast {
                frame,
                omit: None,
                except: Vec::new(),
            },
            Op::LeaveAll {
                room: Room::new("x"),
                options: LeaveAllOptions::default(),
            },
            Op::RemoveMembers(Arc::new(RoomToRooms {
                source: Room::new("s"),
                dests: vec![Room::new("d")],
            })),
            Op::Disconnect { socket: id },
        ];
        for op in ops {
            let json = serde_json::to_string(&op).unwrap();
            let back: Op = serde_json::from_str(&json).unwrap();
            assert_eq!(back, op, "{json}");
        }
        let back: Room = serde_json::from_str(&format!("\"{id}\"")).unwrap();
        assert_eq!(back.socket(), Some(id));
        // A frame with trailing bytes, a masked frame, a close frame: refused.
        for bad in ["[129,1,65,0]", "[129,129,0,0,0,0,65]", "[136,0]", "[]"] {
            let json = format!(r#"{{"Blast":{{"frame":{bad},"omit":null}}}}"#);
            assert!(serde_json::from_str::<Op>(&json).is_err(), "{bad}");
        }
        let long = Op::LeaveAll {
            room: Room::new(&"x".repeat(300)),
            options: LeaveAllOptions::default(),
        };
        assert!(matches!(
            long.validate(256),
            Err(Error::InvalidRoomName { len: 300, .. })
        ));
        assert!(long.validate(300).is_ok());
    }
}
