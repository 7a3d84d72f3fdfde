//! [`ClusterAdapter`]: the core's [`Adapter`] for a Redis cluster. Called on
//! the thread that issued an operation (a worker): it only queues messages for
//! the publisher thread and registers the requests that wait for answers —
//! never any I/O.
//!
//! | core call | message | channel |
//! |---|---|---|
//! | `publish(op)` (room ops) | `Op`, room stream | `{prefix}#all` |
//! | `forward(node, op, None)` | `Op`, direct stream | the owner's |
//! | `forward(node, op, Some(done))` | `Confirm`, direct stream; `done` on `Confirmed` | the owner's |
//! | `query(Room)` | `Query` (unsequenced); parts from every live node | `{prefix}#all` |
//! | `query(Socket)` | `Query`; the owner's part | the owner's |

use std::sync::Arc;

use roomcast::adapter::{ForwardDone, NodeState, RemoteDone};
use roomcast::{Adapter, Error, NodeId, Op, Query, RemoteAnswer, SocketId};

use super::bus::Bus;
use super::envelope::Body;
use super::outbox::{Dest, Outgoing};

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct ClusterAdapter {
    bus: Arc<Bus>,
}

impl ClusterAdapter {
    pub(crate) fn new(bus: Arc<Bus>) -> ClusterAdapter {
        ClusterAdapter { bus }
    }
}

/// The bytes an op is counted as in the cluster buffer: about its encoded size.
pub(crate) fn cost(op: &Op) -> usize {
    const BASE: usize = 96;
    let room = |r: &roomcast::Room| r.name().len() + 2;
    BASE + match op {
        Op::Join { sockets, room: r } | Op::Leave { sockets, room: r } => {
            sockets.len() * 26 + room(r)
        }
        Op::Broadcast(b) => b.frame.len() + b.rooms.iter().map(room).sum::<usize>(),
        Op::Blast { frame, .. } => frame.len(),
        Op::Emit { sockets, frame } => sockets.len() * 26 + frame.len(),
        Op::LeaveAll { room: r, .. } => room(r),
        Op::AddMembers(m) | Op::RemoveMembers(m) => {
            room(&m.source) + m.dests.iter().map(room).sum::<usize>()
        }
        Op::Disconnect { .. } => 26,
        Op::Selected(o) => {
            let dests = match &o.action {
                roomcast::SelectedAction::Join(d) | roomcast::SelectedAction::Leave(d) => {
                    d.as_slice()
                }
                roomcast::SelectedAction::Disconnect => &[],
            };
            o.rooms.iter().chain(&o.except).chain(dests).map(room).sum()
        }
    }
}

/// The socket ids an op on sockets names.
fn ids_of(op: &Op) -> Vec<SocketId> {
    match op {
        Op::Join { sockets, .. } | Op::Leave { sockets, .. } | Op::Emit { sockets, .. } => {
            sockets.to_vec()
        }
        Op::Disconnect { socket } => vec![*socket],
        _ => Vec::new(),
    }
}

fn unavailable() -> Error {
    Error::ClusterUnavailable("the cluster bus (Redis) is down".into())
}

impl Adapter for ClusterAdapter {
    fn publish(&self, op: &Op) {
        if let Some(compat) = &self.bus.compat {
            // A mixed cluster: room broadcasts go out in socket.io's format
            // only; with Sails, room-to-room moves on its admin bus only.
            let admin = compat
                .sails
                .then(|| super::bridge::outgoing_admin(op, &compat.uid))
                .flatten()
                .map(|bytes| {
                    (
                        super::compat::channel::admin_bus_channel(&compat.key),
                        bytes,
                    )
                });
            if let Some((channel, bytes)) =
                admin.or_else(|| super::bridge::outgoing(op, &compat.uid, &compat.key))
            {
                let cost = bytes.len() + 64;
                self.bus.send(Outgoing {
                    dest: Dest::Channel(channel.into()),
                    sequenced: false,
                    body: Body::Foreign(bytes.into()),
                    cost,
                });
                return;
            }
        }
        self.bus.send(Outgoing {
            dest: Dest::All,
            sequenced: true,
            body: Body::Op(op.clone()),
            cost: cost(op),
        });
    }

    fn forward(&self, node: NodeId, op: Op, done: Option<ForwardDone>) {
        let cost = cost(&op);
        let Some(done) = done else {
            self.bus.send(Outgoing {
                dest: Dest::Node(node),
                sequenced: true,
                body: Body::Op(op),
                cost,
            });
            return;
        };
        if !self.bus.redis_up() {
            done(Err(unavailable()));
            return;
        }
        let now = self.bus.now();
        let req = self.bus.pending.lock().confirm(
            node,
            ids_of(&op),
            done,
            now,
            self.bus.config.timeout_ms,
        );
        let queued = self.bus.send(Outgoing {
            dest: Dest::Node(node),
            sequenced: true,
            body: Body::Confirm { req, op },
            cost,
        });
        if !queued {
            // Dropped (buffer full): end the request now rather than at its
            // deadline.
            let c = self.bus.pending.lock().end(req);
            Bus::complete(c.into_iter().collect());
        }
    }

    fn query(&self, query: &Query, done: RemoteDone) {
        // In a mixed cluster a room's members on Node peers count too.
        let done = match query {
            Query::Room { room, limit } if self.bus.compat.is_some() => {
                super::mixed::ask_nodes_too(&self.bus, room, *limit, query.clone(), done)
            }
            _ => done,
        };
        let expect: Vec<(NodeId, String)> = {
            let members = self.bus.members.read();
            match query {
                Query::Socket { id } => members
                    .get(id.node())
                    .map(|m| vec![(m.node, m.name.clone())])
                    .unwrap_or_default(),
                Query::Room { .. } | Query::Sockets { .. } | Query::Rooms { .. } => {
                    members.others().map(|m| (m.node, m.name.clone())).collect()
                }
            }
        };
        if expect.is_empty() {
            done(RemoteAnswer::default());
            return;
        }
        if !self.bus.redis_up() {
            done(RemoteAnswer {
                answer: None,
                missing: expect.into_iter().map(|(_, n)| n).collect(),
                unavailable: true,
            });
            return;
        }
        let dest = match query {
            Query::Socket { id } => Dest::Node(id.node()),
            Query::Room { .. } | Query::Sockets { .. } | Query::Rooms { .. } => Dest::All,
        };
        let now = self.bus.now();
        let req = self.bus.pending.lock().query(
            query.clone(),
            expect,
            done,
            now,
            self.bus.config.timeout_ms,
        );
        let queued = self.bus.send(Outgoing {
            dest,
            sequenced: false,
            body: Body::Query {
                req,
                query: query.clone(),
            },
            cost: 128,
        });
        if !queued {
            let c = self.bus.pending.lock().end(req);
            Bus::complete(c.into_iter().collect());
        }
    }

    fn node_state(&self, node: NodeId) -> NodeState {
        if self.bus.members.read().get(node).is_none() {
            NodeState::Unknown
        } else if self.bus.redis_up() {
            NodeState::Live
        } else {
            NodeState::Unreachable
        }
    }
}
