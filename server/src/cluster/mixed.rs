//! What the subscriber does with a message from a Node peer of a mixed cluster
//! (`--cluster-compat`): a socket.io broadcast ([`broadcast`]), a request
//! ([`request`], as [`super::requests`] says) or a Sails admin-bus message
//! ([`admin`]). Each becomes a [`Step`]: an op for this node's shards, in
//! order with the ops around it, and what to do once it went to them (ask the
//! shards, publish an answer). Also the other half of broadcasts with acks:
//! a client's ack goes back to the requester ([`client_ack`]). And this
//! node's own room queries ask the Node peers too ([`ask_nodes_too`]), whose
//! answers come back on the response channel ([`response`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use roomcast::adapter::RemoteDone;
use roomcast::{Answer, Op, Query, RemoteAnswer, Room};

use super::bus::Bus;
use super::compat::adapter_message::BroadcastMessage;
use super::compat::adapter_request::{Request, Response, Target};
use super::compat::admin_bus::AdminMessage;
use super::envelope::{Body, DecodeError};
use super::outbox::{Dest, Outgoing};
use super::requests::{answer, handle, Handling};

/// Run once a step's op, and every op before it, went to the shards.
pub(super) type Then = Box<dyn FnOnce(&Arc<Bus>) + Send>;

/// What to do with one message.
#[derive(Default)]
pub(super) struct Step {
    /// Applied in order with the ops around it.
    pub(super) op: Option<Op>,
    /// What follows it.
    pub(super) then: Option<Then>,
}

fn malformed(what: &str, e: impl std::fmt::Display) -> DecodeError {
    DecodeError::Malformed(format!("{what}: {e}"))
}

/// `op`, checked like any op from outside the process.
fn checked(bus: &Bus, what: &str, op: Op) -> Result<Step, DecodeError> {
    op.validate(bus.engine.config().max_room_name_len)
        .map_err(|e| malformed(what, e))?;
    bus.metrics.compat_in.inc();
    Ok(Step {
        op: Some(op),
        then: None,
    })
}

/// A broadcast from a socket.io node (or the emitter).
pub(super) fn broadcast(bus: &Bus, bytes: &[u8]) -> Result<Step, DecodeError> {
    let Some(compat) = &bus.compat else {
        return Ok(Step::default());
    };
    let msg = BroadcastMessage::decode(bytes).map_err(|e| malformed("socket.io broadcast", e))?;
    match super::bridge::incoming(&msg, &compat.uid) {
        Ok(op) => checked(bus, "socket.io broadcast", op),
        Err(super::bridge::Skip::Own) => Ok(Step::default()),
        Err(skip) => {
            bus.metrics.compat_skipped.inc();
            tracing::debug!(?skip, uid = %msg.uid, "cluster: a socket.io broadcast not bridged");
            Ok(Step::default())
        }
    }
}

/// A message of the Sails admin bus.
pub(super) fn admin(bus: &Bus, bytes: &[u8]) -> Result<Step, DecodeError> {
    let Some(compat) = &bus.compat else {
        return Ok(Step::default());
    };
    let msg = AdminMessage::decode(bytes).map_err(|e| malformed("Sails admin bus", e))?;
    match super::bridge::incoming_admin(&msg, &compat.uid) {
        Ok(op) => checked(bus, "Sails admin bus", op),
        Err(_) => Ok(Step::default()), // our own, back from Redis
    }
}

/// Publishes `r` on the response channel.
fn respond(bus: &Bus, r: &Response) {
    let Some(compat) = &bus.compat else {
        return;
    };
    if let Ok(bytes) = r.encode() {
        bus.send(Outgoing {
            dest: Dest::Channel(
                super::compat::channel::response_channel(&compat.key, "/", None).into(),
            ),
            sequenced: false,
            cost: bytes.len() + 64,
            body: Body::Foreign(bytes.into()),
        });
    }
}

/// A request from a socket.io or Sails node (or the emitter).
pub(super) fn request(bus: &Bus, bytes: &[u8]) -> Result<Step, DecodeError> {
    let Some(compat) = &bus.compat else {
        return Ok(Step::default());
    };
    let req = Request::decode(bytes).map_err(|e| malformed("socket.io request", e))?;
    if req
        .uid()
        .is_some_and(|uid| bus.members.read().is_roomcast_uid(uid))
    {
        // Another roomcast node asking the Node peers: roomcast nodes answer
        // each other on roomcast's channels.
        return Ok(Step::default());
    }
    let max_room = bus.engine.config().max_room_name_len;
    match handle(req, &compat.uid) {
        Handling::Apply(op) => checked(bus, "socket.io request", op),
        Handling::Answer(r) => Ok(Step {
            op: None,
            then: Some(Box::new(move |bus| respond(bus, &r))),
        }),
        Handling::Ask(query, pending) => {
            if query
                .rooms()
                .any(|r| r.name().is_empty() || r.name().len() > max_room)
            {
                return Err(malformed("socket.io request", "a bad room name"));
            }
            Ok(Step {
                op: None,
                then: Some(Box::new(move |bus| {
                    let reply = Arc::clone(bus);
                    let _ = bus
                        .engine
                        .query_local(query, move |r| respond(&reply, &answer(pending, r.answer)));
                })),
            })
        }
        Handling::AckedBroadcast {
            msg,
            request_id,
            timeout_ms,
        } => acked_broadcast(bus, &compat.uid, &msg, request_id, timeout_ms),
        Handling::Ignore(why) => {
            if why != "this node's own request" {
                bus.metrics.compat_skipped.inc();
                tracing::debug!("cluster: a socket.io request not acted on: {why}");
            }
            Ok(Step::default())
        }
    }
}

/// A broadcast whose sender waits for acks: delivered with an ack id of this
/// node's; once it went to the shards, they count its recipients (the count
/// follows the broadcast in each shard's mailbox, so it counts the sockets
/// it reached) and the node answers that count.
fn acked_broadcast(
    bus: &Bus,
    uid: &str,
    msg: &BroadcastMessage,
    request_id: String,
    timeout_ms: u64,
) -> Result<Step, DecodeError> {
    let ack = bus.acks.lock().register(&request_id, bus.now(), timeout_ms);
    if ack.is_none() {
        tracing::debug!("cluster: too many broadcasts waiting for acks; one delivered without");
    }
    let op = super::bridge::incoming_acked(msg, uid, ack)
        .map_err(|skip| malformed("socket.io broadcast with acks", format!("{skip:?}")))?;
    let mut step = checked(bus, "socket.io broadcast with acks", op)?;
    let room = |r: &String| roomcast::Room::new(r);
    let count = Query::Sockets {
        rooms: msg.opts.rooms.iter().map(room).collect(),
        except: msg.opts.except.iter().map(room).collect(),
        limit: 0,
    };
    step.then = Some(Box::new(move |bus| {
        let reply = Arc::clone(bus);
        let done = move |count: usize| {
            let client_count = match ack {
                Some(id) => {
                    reply.acks.lock().set_clients(id, count);
                    count
                }
                // Delivered without an ack id: no acks to wait for.
                None => 0,
            };
            respond(
                &reply,
                &Response::ClientCount {
                    request_id,
                    client_count: client_count as u64,
                },
            );
        };
        let _ = bus.engine.query_local(count, move |r| {
            done(match r.answer {
                Answer::Sockets { count, .. } => count,
                _ => 0,
            });
        });
    }));
    Ok(step)
}

/// A client acked ack id `id` on namespace `/` with `first` (its first
/// argument, raw JSON) and `attachments`: forwarded to the socket.io node
/// that broadcast it, if this node delivered such a broadcast and still waits.
pub(crate) fn client_ack(bus: &Bus, id: u64, first: &str, attachments: Vec<Bytes>) {
    if bus.compat.is_none() {
        return;
    }
    let Some(request_id) = bus.acks.lock().on_ack(id, bus.now()) else {
        return;
    };
    respond(
        bus,
        &Response::BroadcastAck {
            request_id,
            packet_json: first.to_owned(),
            attachments,
        },
    );
}

/// Numbers this node's requests to the Node peers.
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// A room query of this node, in a mixed cluster: besides the roomcast nodes
/// (whose answers go to the returned callback), the Node peers are asked —
/// socket.io's REMOTE_FETCH, or Sails' SOCKETS — and `done` gets both parts
/// merged: counts added, ids listed up to `limit`, the missing of both.
pub(super) fn ask_nodes_too(
    bus: &Arc<Bus>,
    room: &Room,
    limit: usize,
    query: Query,
    done: RemoteDone,
) -> RemoteDone {
    let Some(compat) = &bus.compat else {
        return done;
    };
    let join = Arc::new(Mutex::new(Join {
        left: 2,
        merged: RemoteAnswer::default(),
        done: Some(done),
        query,
    }));
    let request_id = format!(
        "{}{}",
        compat.uid,
        NEXT_REQUEST.fetch_add(1, Ordering::Relaxed)
    );
    let rooms = vec![room.name().to_owned()];
    let request = if compat.sails {
        Request::Sockets {
            uid: Some(compat.uid.clone()),
            request_id: request_id.clone(),
            rooms,
        }
    } else {
        Request::RemoteFetch {
            uid: Some(compat.uid.clone()),
            request_id: request_id.clone(),
            target: Target {
                rooms,
                except: Vec::new(),
            },
        }
    };
    let j = Arc::clone(&join);
    let node_part: super::node_queries::NodePartDone = Box::new(move |part| Join::part(&j, part));
    let deadline = bus.now() + bus.config.timeout_ms;
    let started = bus
        .node_queries
        .lock()
        .start(&request_id, limit, deadline, node_part);
    match (started, request.encode()) {
        (Ok(()), Ok(bytes)) => bus.ask_nodes(request_id, bytes),
        (Ok(()), Err(_)) => {
            let c = bus.node_queries.lock().fail(&request_id);
            if let Some(c) = c {
                c.run();
            }
        }
        (Err(node_part), _) => node_part(RemoteAnswer {
            answer: None,
            missing: vec!["the Node peers (socket.io/Sails): too many queries waiting".into()],
            unavailable: false,
        }),
    }
    Box::new(move |part| Join::part(&join, part))
}

/// Two parts of one answer: the roomcast nodes' and the Node peers'.
struct Join {
    left: u8,
    merged: RemoteAnswer,
    done: Option<RemoteDone>,
    query: Query,
}

impl Join {
    fn part(join: &Mutex<Join>, part: RemoteAnswer) {
        let finished = {
            let mut j = join.lock();
            let query = j.query.clone();
            let m = &mut j.merged;
            match (&mut m.answer, part.answer) {
                (Some(a), Some(p)) => a.merge(p, &query),
                (slot @ None, Some(p)) => *slot = Some(p),
                (_, None) => {}
            }
            m.missing.extend(part.missing);
            m.unavailable |= part.unavailable;
            j.left -= 1;
            if j.left == 0 {
                j.done.take().map(|d| (d, std::mem::take(&mut j.merged)))
            } else {
                None
            }
        };
        if let Some((done, merged)) = finished {
            done(merged);
        }
    }
}

/// An answer on the response channel: to one of this node's queries to the
/// Node peers, or (most often) to someone else's request, ignored.
pub(super) fn response(bus: &Bus, bytes: &[u8]) -> Result<(), DecodeError> {
    let r = Response::decode(bytes).map_err(|e| malformed("socket.io response", e))?;
    let (request_id, ids): (&str, Vec<String>) = match &r {
        Response::Sockets {
            request_id,
            sockets,
        } => (request_id, sockets.clone()),
        Response::FetchSockets {
            request_id,
            sockets,
        } => (request_id, sockets.iter().map(|s| s.id.clone()).collect()),
        _ => return Ok(()),
    };
    let c = bus.node_queries.lock().answer(request_id, &ids);
    if let Some(c) = c {
        c.run();
    }
    Ok(())
}
