//! The subscriber thread: owns the connection subscribed to `{prefix}#all` and
//! this node's `{prefix}#node#<hex>`, read with our bounded [`RespReader`];
//! decodes each message, puts sequenced ones in order ([`Inbox`]), and acts:
//! operations go to the shards through the engine (the same bounded mailboxes
//! and wakers as local operations), queries are answered from the shards,
//! answers complete waiting requests. Every 100 ms it also runs the clocks:
//! node deaths, request deadlines, gaps given up on.
//!
//! The connection is checked by traffic: this node hears its own heartbeat
//! every second, so after 3 s of silence it sends `PING`, and after 6 s it
//! reconnects.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use roomcast::{NodeId, Query};

use super::bus::Bus;
use super::config::Endpoint;
use super::envelope::{Body, DecodeError, Envelope, Origin, Stream};
use super::inbox::{Action, Inbox, InboxStats};
use super::members::Heard;
use super::outbox::{Dest, Outgoing};
use super::publisher::{BACKOFF_MAX_MS, BACKOFF_MIN_MS};
use super::resp::{command, RespReader, Value};

/// Milliseconds a gap is waited for before its messages count as lost.
pub(crate) const GAP_TIMEOUT_MS: u64 = 3000;
/// Clock resolution (and the socket's read timeout).
const TICK_MS: u64 = 100;
/// Silence before a `PING`, and before reconnecting.
const QUIET_MS: u64 = 3000;
const DEAD_MS: u64 = 6000;
/// Milliseconds between two log lines about refused messages.
const LOG_EVERY_MS: u64 = 10_000;

/// Which channel a message came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    All,
    Mine,
    /// socket.io's requests.
    Requests,
    /// The Sails admin bus.
    AdminBus,
    /// Node peers' answers.
    Responses,
}

struct State {
    inbox: Inbox,
    seen: InboxStats,
    last_tick: u64,
    refused: u64,
    refused_logged: u64,
    clash_logged: u64,
    /// Ops received and not yet handed to the shards: applied together (one
    /// wake a shard) at the end of each read, or before anything else acts.
    batch: Vec<roomcast::Op>,
}

/// Most ops handed to the shards in one batch.
const MAX_BATCH: usize = 1024;

/// Hands the batched ops to the shards.
fn flush(bus: &Bus, st: &mut State) {
    if !st.batch.is_empty() {
        bus.engine.apply_remote_batch(st.batch.drain(..));
    }
}

/// Runs until the bus stops; see the [module docs](self).
pub(crate) fn run(bus: &Arc<Bus>, endpoint: &Endpoint) {
    let mut st = State {
        inbox: Inbox::new(GAP_TIMEOUT_MS, (bus.config.buffer / 4).max(1 << 20)),
        seen: InboxStats::default(),
        last_tick: 0,
        refused: 0,
        refused_logged: 0,
        clash_logged: 0,
        batch: Vec::new(),
    };
    let names = Names::of(bus);
    let channels = names.subscribed();
    let pattern = bus
        .compat
        .as_ref()
        .map(|c| super::compat::channel::broadcast_pattern(&c.key, "/"));
    let mut backoff = BACKOFF_MIN_MS;
    let mut failures: u64 = 0;
    let mut was_up = false;
    while !bus.stopping.load(Ordering::Acquire) {
        let mut conn = match subscribe(endpoint, &channels, pattern.as_deref()) {
            Ok(c) => c,
            Err(e) => {
                failures += 1;
                if failures == 1 || failures % 20 == 0 {
                    tracing::warn!(
                        attempts = failures,
                        "cluster: cannot subscribe to Redis: {e}; retrying"
                    );
                }
                let until = bus.now() + backoff;
                backoff = (backoff * 2).min(BACKOFF_MAX_MS);
                while bus.now() < until && !bus.stopping.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(TICK_MS));
                    tick(bus, &mut st, false);
                }
                continue;
            }
        };
        if was_up || failures > 0 {
            tracing::info!("cluster: subscribed to Redis again");
        }
        failures = 0;
        backoff = BACKOFF_MIN_MS;
        was_up = true;
        bus.members.write().grace(bus.now());
        bus.set_sub_up(true);
        if let Err(e) = listen(bus, &mut st, &mut conn, &names) {
            tracing::warn!("cluster: lost the subscription to Redis: {e}");
        }
        flush(bus, &mut st);
        bus.set_sub_up(false);
    }
}

/// Opens the connection, authenticates, subscribes to `channels` (and, in a
/// mixed cluster, to socket.io's broadcast channels by `pattern`).
fn subscribe(
    endpoint: &Endpoint,
    channels: &[&str],
    pattern: Option<&str>,
) -> std::io::Result<TcpStream> {
    let addr = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("the Redis host has no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = RespReader::new(4096);
    if let Some(password) = &endpoint.password {
        let cmd = match &endpoint.username {
            Some(user) => command(&[b"AUTH", user.as_bytes(), password.as_bytes()]),
            None => command(&[b"AUTH", password.as_bytes()]),
        };
        s.write_all(&cmd)?;
        match read_value(&mut s, &mut reader)? {
            Value::Simple(_) => {}
            other => return Err(std::io::Error::other(format!("AUTH refused: {other:?}"))),
        }
    }
    let mut cmd: Vec<&[u8]> = vec![b"SUBSCRIBE"];
    cmd.extend(channels.iter().map(|c| c.as_bytes()));
    s.write_all(&command(&cmd))?;
    for _ in channels {
        match read_value(&mut s, &mut reader)? {
            Value::Array(Some(v)) if v.first() == Some(&bulk("subscribe")) => {}
            other => {
                return Err(std::io::Error::other(format!(
                    "SUBSCRIBE refused: {other:?}"
                )))
            }
        }
    }
    if let Some(pattern) = pattern {
        s.write_all(&command(&[b"PSUBSCRIBE", pattern.as_bytes()]))?;
        match read_value(&mut s, &mut reader)? {
            Value::Array(Some(v)) if v.first() == Some(&bulk("psubscribe")) => {}
            other => {
                return Err(std::io::Error::other(format!(
                    "PSUBSCRIBE refused: {other:?}"
                )))
            }
        }
    }
    s.set_read_timeout(Some(Duration::from_millis(TICK_MS)))?;
    Ok(s)
}

fn bulk(s: &str) -> Value {
    Value::Bulk(Some(Bytes::copy_from_slice(s.as_bytes())))
}

fn read_value(s: &mut TcpStream, reader: &mut RespReader) -> std::io::Result<Value> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(v) = reader.next().map_err(std::io::Error::other)? {
            return Ok(v);
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        reader.feed(&buf[..n]);
    }
}

/// Reads messages until the connection fails or the bus stops.
fn listen(
    bus: &Arc<Bus>,
    st: &mut State,
    conn: &mut TcpStream,
    names: &Names,
) -> std::io::Result<()> {
    let mut reader = RespReader::new(bus.config.max_message);
    let mut buf = vec![0u8; 256 * 1024];
    let mut last_heard = bus.now();
    let mut pinged = false;
    while !bus.stopping.load(Ordering::Acquire) {
        match conn.read(&mut buf) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                last_heard = bus.now();
                pinged = false;
                reader.feed(&buf[..n]);
                while let Some(v) = reader.next().map_err(std::io::Error::other)? {
                    push(bus, st, v, names);
                }
                // A full read: more is waiting; hand the shards one batch of it all.
                if n < buf.len() {
                    flush(bus, st);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let now = bus.now();
        tick(bus, st, true);
        let quiet = now.saturating_sub(last_heard);
        if quiet >= DEAD_MS {
            return Err(std::io::Error::other("Redis went silent"));
        }
        if quiet >= QUIET_MS && !pinged {
            conn.write_all(&command(&[b"PING"]))?;
            pinged = true;
        }
    }
    Ok(())
}

/// A value read from the subscription.
fn push(bus: &Arc<Bus>, st: &mut State, v: Value, names: &Names) {
    let Value::Array(Some(mut items)) = v else {
        return;
    };
    if items.len() == 4 && items[0] == bulk("pmessage") {
        // socket.io's broadcast channels (a mixed cluster).
        match items.pop().expect("four") {
            Value::Bulk(Some(bytes)) => mixed(bus, st, super::mixed::broadcast(bus, &bytes)),
            Value::Oversized(n) => refused(bus, st, &DecodeError::TooLarge(n)),
            _ => refused(bus, st, &DecodeError::Malformed("not a bulk string".into())),
        }
        return;
    }
    if items.len() != 3 || items[0] != bulk("message") {
        return; // subscribe confirmations, pongs
    }
    let payload = items.pop().expect("three");
    let channel = match items.pop() {
        Some(Value::Bulk(Some(c))) => names.classify(&c),
        _ => Channel::Mine,
    };
    let bytes = match payload {
        Value::Bulk(Some(bytes)) => bytes,
        Value::Oversized(n) => return refused(bus, st, &DecodeError::TooLarge(n)),
        _ => return refused(bus, st, &DecodeError::Malformed("not a bulk string".into())),
    };
    match channel {
        Channel::All | Channel::Mine => message(bus, st, channel, &bytes),
        Channel::Requests => mixed(bus, st, super::mixed::request(bus, &bytes)),
        Channel::AdminBus => mixed(bus, st, super::mixed::admin(bus, &bytes)),
        Channel::Responses => {
            if let Err(e) = super::mixed::response(bus, &bytes) {
                refused(bus, st, &e);
            }
        }
    }
}

/// The channels this node subscribes to, by name.
struct Names {
    all: String,
    mine: String,
    /// socket.io's request channel (a mixed cluster).
    requests: Option<String>,
    /// The Sails admin bus (a mixed Sails cluster).
    admin_bus: Option<String>,
    /// The Node peers' response channel (a mixed cluster).
    responses: Option<String>,
}

impl Names {
    fn of(bus: &Bus) -> Names {
        let compat = bus.compat.as_ref();
        Names {
            all: bus.all_channel(),
            mine: bus.node_channel(bus.me.node),
            requests: compat.map(|c| super::compat::channel::request_channel(&c.key, "/")),
            admin_bus: compat
                .filter(|c| c.sails)
                .map(|c| super::compat::channel::admin_bus_channel(&c.key)),
            responses: compat.map(|c| super::compat::channel::response_channel(&c.key, "/", None)),
        }
    }

    fn subscribed(&self) -> Vec<&str> {
        let mut v = vec![self.all.as_str(), self.mine.as_str()];
        v.extend(self.requests.as_deref());
        v.extend(self.admin_bus.as_deref());
        v.extend(self.responses.as_deref());
        v
    }

    fn classify(&self, channel: &[u8]) -> Channel {
        let is = |name: &Option<String>| name.as_ref().is_some_and(|n| n.as_bytes() == channel);
        if channel == self.all.as_bytes() {
            Channel::All
        } else if is(&self.requests) {
            Channel::Requests
        } else if is(&self.admin_bus) {
            Channel::AdminBus
        } else if is(&self.responses) {
            Channel::Responses
        } else {
            Channel::Mine
        }
    }
}

/// A message from a Node peer (a mixed cluster): its op in order with the ops
/// around it, then what follows it.
fn mixed(bus: &Arc<Bus>, st: &mut State, step: Result<super::mixed::Step, DecodeError>) {
    let step = match step {
        Ok(s) => s,
        Err(e) => return refused(bus, st, &e),
    };
    if let Some(op) = step.op {
        st.batch.push(op);
    }
    if let Some(then) = step.then {
        flush(bus, st);
        then(bus);
    } else if st.batch.len() >= MAX_BATCH {
        flush(bus, st);
    }
}

fn refused(bus: &Bus, st: &mut State, e: &DecodeError) {
    bus.metrics.decode_errors.inc();
    st.refused += 1;
    let now = bus.now();
    if st.refused_logged == 0 || now.saturating_sub(st.refused_logged) >= LOG_EVERY_MS {
        st.refused_logged = now.max(1);
        tracing::warn!(
            refused = st.refused,
            "cluster: refused a message on the cluster channels: {e} \
             (roomcast_cluster_decode_errors_total)"
        );
        st.refused = 0;
    }
}

/// One message from the bus.
fn message(bus: &Arc<Bus>, st: &mut State, channel: Channel, bytes: &[u8]) {
    let max_room = bus.engine.config().max_room_name_len;
    let env = match Envelope::decode(bytes, bus.config.max_message, max_room) {
        Ok(e) => e,
        Err(e) => return refused(bus, st, &e),
    };
    if env.from.node == bus.me.node && env.from.inc == bus.me.inc {
        return; // our own, back from #all
    }
    if env.stream == Stream::Direct && channel != Channel::Mine {
        return refused(
            bus,
            st,
            &DecodeError::Invalid("a direct message on the room channel".into()),
        );
    }
    let now = bus.now();
    let heard = bus.members.write().heard(&env.from, now);
    match heard {
        Heard::Known => {}
        Heard::Joined => {
            tracing::info!(node = %env.from.name, "cluster: node joined");
            bus.metrics.nodes.set(bus.members.read().count() as i64);
        }
        Heard::Clash(why) => {
            bus.metrics.clashes.inc();
            if st.clash_logged == 0 || now.saturating_sub(st.clash_logged) >= LOG_EVERY_MS {
                st.clash_logged = now.max(1);
                tracing::error!("cluster: {why}");
            }
            return;
        }
    }
    bus.metrics.receives.inc();
    let from = env.from;
    if env.stream == Stream::None {
        body(bus, st, &from, env.body, now);
        return;
    }
    let actions = st
        .inbox
        .accept(&from, env.stream, env.seq, env.body, bytes.len(), now);
    act(bus, st, actions);
}

/// Applies a sequenced message (an op) of `node`, in its order.
fn op(bus: &Arc<Bus>, st: &mut State, node: NodeId, b: Body) {
    match b {
        Body::Op(op) => {
            st.batch.push(op);
            if st.batch.len() >= MAX_BATCH {
                flush(bus, st);
            }
        }
        Body::Confirm { req, op } => {
            flush(bus, st);
            let reply = Arc::clone(bus);
            bus.engine.apply_remote_then(op, move |unknown| {
                let cost = 64 + unknown.len() * 26;
                reply.send(Outgoing {
                    dest: Dest::Node(node),
                    sequenced: false,
                    body: Body::Confirmed { req, unknown },
                    cost,
                });
            });
        }
        // Only ops are sequenced (checked at decoding).
        _ => {}
    }
}

fn act(bus: &Arc<Bus>, st: &mut State, actions: Vec<Action>) {
    for a in actions {
        match a {
            Action::Deliver { node, body, .. } => op(bus, st, node, body),
            Action::Nack {
                node,
                stream,
                from: first,
                to,
            } => {
                bus.send(Outgoing {
                    dest: Dest::Node(node),
                    sequenced: false,
                    body: Body::Nack {
                        stream,
                        from: first,
                        to,
                    },
                    cost: 64,
                });
            }
        }
    }
}

/// Acts on an unsequenced message (a reply or a control message).
fn body(bus: &Arc<Bus>, st: &mut State, from: &Origin, b: Body, now: u64) {
    let node = from.node;
    if !matches!(b, Body::Op(_)) {
        // Whatever this does comes after the ops received before it.
        flush(bus, st);
    }
    match b {
        Body::Op(_) | Body::Confirm { .. } => op(bus, st, node, b),
        Body::Query { req, query } => answer(bus, node, req, query),
        Body::Answer { req, answer } => {
            let done = bus.pending.lock().answer(req, node, answer, now);
            if let Some((rtt, completion)) = done {
                bus.round_trip(rtt);
                Bus::complete(completion.into_iter().collect());
            }
        }
        Body::Confirmed { req, unknown } => {
            let done = bus.pending.lock().confirmed(req, node, unknown, now);
            if let Some((rtt, completion)) = done {
                bus.round_trip(rtt);
                completion();
            }
        }
        Body::Heartbeat {
            sockets,
            all_seq,
            direct,
            compat_uid,
        } => {
            bus.members.write().sockets(node, sockets, compat_uid);
            let to_me = direct
                .iter()
                .find(|(n, _)| *n == bus.me.node)
                .map(|(_, s)| *s);
            let actions = st.inbox.tail(from, all_seq, to_me, now);
            act(bus, st, actions);
        }
        Body::Bye => {
            if bus.members.write().bye(node).is_some() {
                tracing::info!(node = %from.name, "cluster: node left (shut down)");
                bus.metrics.nodes.set(bus.members.read().count() as i64);
            }
            let c = bus.pending.lock().node_gone(node);
            Bus::complete(c);
        }
        Body::Nack {
            stream,
            from: first,
            to,
        } => bus.replay(node, stream, first, to),
        Body::Gone { stream, upto } => {
            let actions = st.inbox.gone(node, stream, upto);
            act(bus, st, actions);
        }
        // Never decoded from an envelope.
        Body::Foreign(_) => {}
    }
}

/// Answers `from`'s query `req` from this node's shards.
fn answer(bus: &Arc<Bus>, to: NodeId, req: u64, query: Query) {
    let reply = Arc::clone(bus);
    let empty = roomcast::Answer::empty(&query);
    let result = bus.engine.query_local(query, move |r| {
        let cost = match &r.answer {
            roomcast::Answer::Room { members, .. } => 64 + members.len() * 26,
            roomcast::Answer::Socket {
                rooms,
                user,
                data,
                address,
            } => {
                64 + rooms.iter().flatten().map(|r| r.len() + 2).sum::<usize>()
                    + user.as_ref().map_or(0, String::len)
                    + data.as_ref().map_or(0, String::len)
                    + address.as_ref().map_or(0, String::len)
            }
            roomcast::Answer::Sockets { sockets, .. } => {
                64 + sockets
                    .iter()
                    .map(|s| {
                        64 + s.rooms.iter().map(|r| r.len() + 2).sum::<usize>()
                            + s.user.as_ref().map_or(0, String::len)
                            + s.data.as_ref().map_or(0, String::len)
                            + s.address.as_ref().map_or(0, String::len)
                    })
                    .sum::<usize>()
            }
            roomcast::Answer::Rooms { rooms } => {
                64 + rooms.iter().map(|r| r.len() + 2).sum::<usize>()
            }
        };
        reply.send(Outgoing {
            dest: Dest::Node(to),
            sequenced: false,
            body: Body::Answer {
                req,
                answer: r.answer,
            },
            cost,
        });
    });
    if result.is_err() {
        bus.send(Outgoing {
            dest: Dest::Node(to),
            sequenced: false,
            body: Body::Answer { req, answer: empty },
            cost: 64,
        });
    }
}

/// The clocks: gaps, request deadlines and (while subscribed) node deaths.
fn tick(bus: &Arc<Bus>, st: &mut State, subscribed: bool) {
    let now = bus.now();
    if now.saturating_sub(st.last_tick) < TICK_MS {
        return;
    }
    st.last_tick = now;
    // Gaps given up on deliver what they held, each from its own sender.
    let actions = st.inbox.sweep(now);
    act(bus, st, actions);
    flush(bus, st);
    let c = bus.pending.lock().sweep(now);
    Bus::complete(c);
    bus.acks.lock().sweep(now);
    let late = bus.node_queries.lock().sweep(now);
    for c in late {
        c.run();
    }
    if subscribed {
        let dead = bus.members.write().sweep(now);
        for m in dead {
            tracing::info!(
                node = %m.name,
                "cluster: node left (no heartbeat for {} ms)",
                super::members::DEAD_AFTER_MS
            );
            let c = bus.pending.lock().node_gone(m.node);
            Bus::complete(c);
            bus.metrics.nodes.set(bus.members.read().count() as i64);
        }
    }
    let s = st.inbox.stats();
    bus.metrics.lost.inc_by(s.lost - st.seen.lost);
    bus.metrics
        .duplicates
        .inc_by(s.duplicates - st.seen.duplicates);
    st.seen = s;
}
