//! Read-only questions about membership, asked of every shard (and, through a
//! cluster [`Adapter`](crate::Adapter), every node) and answered without blocking
//! anyone: each shard adds its part when its thread gets to it, and the last part
//! completes the answer.
//!
//! [`Query`] and [`Answer`] are plain data, like [`Op`](crate::Op), so a node can
//! ask another over the network. A [`QueryResult`] also says which nodes did not
//! answer in time (`missing`), so a partial count is never mistaken for a whole
//! one.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::op::Room;
use crate::SocketId;

/// A question about membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Query {
    /// How many sockets are in `room`, and the ids of up to `limit` of them.
    Room {
        /// The room (a socket-id room counts its socket).
        room: Room,
        /// Most member ids to list.
        limit: usize,
    },
    /// The rooms a socket is in (its own id room first, when it is in it).
    Socket {
        /// The socket.
        id: SocketId,
    },
    /// The sockets in any of `rooms` (every socket when empty) that are in
    /// none of `except`, each with its rooms and labels — socket.io's
    /// `fetchSockets()` — up to `limit` of them.
    Sockets {
        /// Rooms whose members are wanted (socket-id rooms included); empty: all.
        rooms: Vec<Room>,
        /// Rooms whose members are not.
        except: Vec<Room>,
        /// Most sockets to list.
        limit: usize,
    },
    /// The names of the rooms that have members (socket-id rooms not
    /// included) — socket.io's `allRooms()` — up to `limit` of them.
    Rooms {
        /// Most names to list.
        limit: usize,
    },
}

impl Query {
    /// The room names the query carries (to check them).
    pub fn rooms(&self) -> impl Iterator<Item = &Room> {
        let (a, b): (&[Room], &[Room]) = match self {
            Query::Room { room, .. } => (std::slice::from_ref(room), &[]),
            Query::Sockets { rooms, except, .. } => (rooms, except),
            Query::Socket { .. } | Query::Rooms { .. } => (&[], &[]),
        };
        a.iter().chain(b)
    }

    /// The most items an answer lists.
    fn limit(&self) -> usize {
        match self {
            Query::Room { limit, .. } | Query::Sockets { limit, .. } | Query::Rooms { limit } => {
                *limit
            }
            Query::Socket { .. } => 0,
        }
    }
}

/// One socket of an [`Answer::Sockets`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketInfo {
    /// The socket.
    pub id: SocketId,
    /// Its rooms (its own id room first, when it is in it).
    pub rooms: Vec<String>,
    /// Its user label, if any.
    pub user: Option<String>,
    /// Its application data (raw JSON), if any.
    pub data: Option<String>,
    /// Its client's address, if known.
    pub address: Option<String>,
}

/// The answer to a [`Query`], or one shard's or node's part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// For [`Query::Room`].
    Room {
        /// Members counted.
        count: usize,
        /// Up to `limit` member ids: shard by shard in shard order, each shard's in
        /// slot order; other nodes' after this node's.
        members: Vec<SocketId>,
    },
    /// For [`Query::Socket`]: `None` if the socket is not connected.
    Socket {
        /// Its rooms.
        rooms: Option<Vec<String>>,
        /// Its user label ([`Shard::set_user`](crate::Shard::set_user)), if any.
        #[serde(default)]
        user: Option<String>,
        /// Its application data, raw JSON ([`Shard::set_data`](crate::Shard::set_data)), if any.
        #[serde(default)]
        data: Option<String>,
        /// Its client's address ([`Shard::set_address`](crate::Shard::set_address)), if known.
        #[serde(default)]
        address: Option<String>,
    },
    /// For [`Query::Sockets`].
    Sockets {
        /// Sockets selected.
        count: usize,
        /// Up to `limit` of them: shard by shard, each shard's in slot order;
        /// other nodes' after this node's.
        sockets: Vec<SocketInfo>,
    },
    /// For [`Query::Rooms`]: room names, sorted, each once.
    Rooms {
        /// The names.
        rooms: Vec<String>,
    },
}

impl Answer {
    /// The answer when no part has been added (nobody in the room, no such
    /// socket).
    #[must_use]
    pub fn empty(query: &Query) -> Answer {
        match query {
            Query::Room { .. } => Answer::Room {
                count: 0,
                members: Vec::new(),
            },
            Query::Socket { .. } => Answer::Socket {
                rooms: None,
                user: None,
                data: None,
                address: None,
            },
            Query::Sockets { .. } => Answer::Sockets {
                count: 0,
                sockets: Vec::new(),
            },
            Query::Rooms { .. } => Answer::Rooms { rooms: Vec::new() },
        }
    }

    /// Adds another part: counts add up, member lists are concatenated up to the
    /// query's limit, a socket's rooms come from the part that knows it.
    pub fn merge(&mut self, part: Answer, query: &Query) {
        match (self, part) {
            (
                Answer::Room { count, members },
                Answer::Room {
                    count: c,
                    members: m,
                },
            ) => {
                *count += c;
                let room_left = query.limit().saturating_sub(members.len());
                members.extend(m.into_iter().take(room_left));
            }
            (
                Answer::Sockets { count, sockets },
                Answer::Sockets {
                    count: c,
                    sockets: s,
                },
            ) => {
                *count += c;
                let room_left = query.limit().saturating_sub(sockets.len());
                sockets.extend(s.into_iter().take(room_left));
            }
            (Answer::Rooms { rooms }, Answer::Rooms { rooms: r }) => {
                rooms.extend(r);
                rooms.sort_unstable();
                rooms.dedup();
                rooms.truncate(query.limit());
            }
            (
                Answer::Socket {
                    rooms: rooms @ None,
                    user,
                    data,
                    address,
                },
                Answer::Socket {
                    rooms: r,
                    user: u,
                    data: d,
                    address: a,
                },
            ) => {
                *rooms = r;
                *user = u;
                *data = d;
                *address = a;
            }

            // A part of another kind is a peer's bug: ignore it.
            _ => {}
        }
    }
}

/// A completed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResult {
    /// The merged answer.
    pub answer: Answer,
    /// Nodes (by name) that did not answer in time: `answer` is partial when this
    /// is not empty.
    pub missing: Vec<String>,
    /// The other nodes could not be asked at all (the cluster bus is down):
    /// `answer` is this node's part only.
    pub unavailable: bool,
}

/// What other nodes answered (from a cluster [`Adapter`](crate::Adapter)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemoteAnswer {
    /// Their merged parts (`None`: no other node holds anything, or none answered).
    pub answer: Option<Answer>,
    /// Nodes that did not answer in time.
    pub missing: Vec<String>,
    /// The other nodes could not be asked (the cluster bus is down).
    pub unavailable: bool,
}

/// Called once with the completed query.
pub type QueryDone = Box<dyn FnOnce(QueryResult) + Send>;

/// Collects the parts of one query; the last part calls `done`.
pub(crate) struct Gather {
    query: Query,
    state: Mutex<GatherState>,
}

struct GatherState {
    /// One slot a local shard, in shard order.
    parts: Vec<Option<Answer>>,
    remote: Option<RemoteAnswer>,
    left: usize,
    done: Option<QueryDone>,
}

impl fmt::Debug for Gather {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("query", &self.query)
            .finish_non_exhaustive()
    }
}

impl Gather {
    /// A gather of `shards` local parts (numbered from 0, merged in that order),
    /// plus one remote part if `remote`.
    pub(crate) fn new(query: Query, shards: usize, remote: bool, done: QueryDone) -> Arc<Gather> {
        Arc::new(Gather {
            query,
            state: Mutex::new(GatherState {
                parts: vec![None; shards],
                remote: None,
                left: shards + usize::from(remote),
                done: Some(done),
            }),
        })
    }

    pub(crate) fn query(&self) -> &Query {
        &self.query
    }

    /// Local part number `shard`.
    pub(crate) fn shard_part(&self, shard: usize, part: Answer) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if st.done.is_none() {
            return; // already answered
        }
        if let Some(slot @ None) = st.parts.get_mut(shard) {
            *slot = Some(part);
            st.left -= 1;
        }
        self.finish_if_done(st);
    }

    /// The other nodes' part.
    pub(crate) fn remote_part(&self, part: RemoteAnswer) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if st.done.is_some() && st.remote.is_none() {
            st.remote = Some(part);
            st.left -= 1;
        }
        self.finish_if_done(st);
    }

    fn finish_if_done(&self, mut st: std::sync::MutexGuard<'_, GatherState>) {
        if st.left != 0 {
            return;
        }
        let Some(done) = st.done.take() else { return };
        let mut answer = Answer::empty(&self.query);
        for part in st.parts.iter_mut().filter_map(Option::take) {
            answer.merge(part, &self.query);
        }
        let mut missing = Vec::new();
        let mut unavailable = false;
        if let Some(remote) = st.remote.take() {
            if let Some(a) = remote.answer {
                answer.merge(a, &self.query);
            }
            missing = remote.missing;
            unavailable = remote.unavailable;
        }
        drop(st);
        done(QueryResult {
            answer,
            missing,
            unavailable,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeId;

    #[test]
    fn parts_merge_in_shard_order_whatever_order_they_arrive_in() {
        let ids: Vec<SocketId> = (1..=5)
            .map(|i| SocketId::from_parts(NodeId::LOCAL, 0, i, 0, u64::from(i)))
            .collect();
        let q = Query::Room {
            room: Room::new("r"),
            limit: 3,
        };
        let got = Arc::new(Mutex::new(None));
        let g2 = Arc::clone(&got);
        let gather = Gather::new(q, 2, true, Box::new(move |r| *g2.lock().unwrap() = Some(r)));
        gather.shard_part(
            1,
            Answer::Room {
                count: 2,
                members: ids[2..4].to_vec(),
            },
        );
        gather.remote_part(RemoteAnswer {
            answer: Some(Answer::Room {
                count: 1,
                members: vec![ids[4]],
            }),
            missing: vec!["n2".into()],
            unavailable: false,
        });
        assert!(got.lock().unwrap().is_none());
        gather.shard_part(
            0,
            Answer::Room {
                count: 2,
                members: ids[..2].to_vec(),
            },
        );
        gather.shard_part(
            0,
            Answer::Room {
                count: 9,
                members: vec![],
            },
        ); // a duplicate part is ignored
        let r = got.lock().unwrap().take().unwrap();
        assert_eq!(
            r,
            QueryResult {
                answer: Answer::Room {
                    count: 5,
                    members: ids[..3].to_vec()
                },
                missing: vec!["n2".into()],
                unavailable: false,
            }
        );
    }
}
