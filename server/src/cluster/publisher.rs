//! The publisher thread: owns the connection that publishes to Redis (the
//! `redis` crate), feeds the [`Outbox`] from the adapter's queue, sends a
//! heartbeat every second, and publishes in pipelines of up to
//! [`BATCH_MESSAGES`] messages, in order.
//!
//! When the connection breaks, messages stay in the outbox (a publish Redis
//! did not answer counts as not sent). After reconnecting (backoff from
//! [`BACKOFF_MIN_MS`] to [`BACKOFF_MAX_MS`]) the thread waits until every
//! node it knew has subscribed again (`PUBSUB NUMSUB {prefix}#all`, at most
//! [`RESUBSCRIBE_WAIT_MS`]) and only then publishes the backlog, so an outage
//! of a few seconds loses nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use roomcast::NodeId;

use super::bus::{Bus, Work};
use super::envelope::Body;
use super::members::HEARTBEAT_MS;
use super::outbox::{Dest, Outbox};

/// Most messages in one pipeline.
pub(crate) const BATCH_MESSAGES: usize = 512;
/// Most bytes in one pipeline (at least one message goes).
const BATCH_BYTES: usize = 4 << 20;
/// First wait before reconnecting.
pub(crate) const BACKOFF_MIN_MS: u64 = 100;
/// Longest wait between two attempts.
pub(crate) const BACKOFF_MAX_MS: u64 = 2000;
/// Longest wait for the known nodes to subscribe again after a reconnect.
pub(crate) const RESUBSCRIBE_WAIT_MS: u64 = 5000;
/// Read and write timeout of the connection.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Replays are refused while this many messages wait (a node asking for more
/// than we can send).
const MAX_UNSENT_FOR_REPLAY: usize = 100_000;

struct Link {
    con: redis::Connection,
    /// Waiting for subscribers until then (ms), before publishing.
    resubscribe_until: Option<u64>,
}

/// Runs until the bus stops; see the [module docs](self).
pub(crate) fn run(bus: &Arc<Bus>, work: &Receiver<Work>, client: &redis::Client) {
    let mut outbox = Outbox::new(bus.me.clone(), bus.config.buffer);
    let mut link: Option<Link> = None;
    let mut retry_at = 0;
    let mut backoff = BACKOFF_MIN_MS;
    let mut failures: u64 = 0;
    // Nodes known when the connection last broke: wait for as many subscribers.
    let mut expect_subscribers = 1;
    let mut next_heartbeat: u64 = 0;
    let all = bus.all_channel();
    let mut channels: HashMap<NodeId, String> = HashMap::new();
    let mut asks: Vec<(String, Vec<u8>)> = Vec::new();
    loop {
        let now = bus.now();
        let ready = link.as_ref().is_some_and(|l| l.resubscribe_until.is_none());
        let wait = if ready && !outbox.unsent().is_empty() {
            0
        } else {
            next_heartbeat.saturating_sub(now).clamp(1, 50)
        };
        match work.recv_timeout(Duration::from_millis(wait)) {
            Ok(w) => {
                take(bus, &mut outbox, &mut asks, w, ready);
                for w in work.try_iter().take(8192) {
                    take(bus, &mut outbox, &mut asks, w, ready);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if bus.stopping.load(std::sync::atomic::Ordering::Acquire) {
            break;
        }
        let now = bus.now();
        if ready && now >= next_heartbeat {
            outbox.push_heartbeat(
                bus.engine.live_sockets() as u64,
                bus.compat.as_ref().map(|c| c.uid.as_str()),
            );
            next_heartbeat = now + HEARTBEAT_MS;
        }
        if link.is_none() && now >= retry_at {
            match connect(client) {
                Ok(con) => {
                    link = Some(Link {
                        con,
                        resubscribe_until: Some(now + RESUBSCRIBE_WAIT_MS),
                    });
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures % 20 == 0 {
                        tracing::warn!(
                            attempts = failures,
                            "cluster: cannot connect to Redis to publish: {e}; retrying"
                        );
                    }
                    retry_at = now + backoff;
                    backoff = (backoff * 2).min(BACKOFF_MAX_MS);
                }
            }
        }
        let Some(l) = link.as_mut() else { continue };
        if let Some(until) = l.resubscribe_until {
            match numsub(&mut l.con, &all) {
                Ok(n) if n >= expect_subscribers || now >= until => {
                    if n < expect_subscribers {
                        tracing::warn!(
                            subscribed = n,
                            expected = expect_subscribers,
                            "cluster: not every known node subscribed again in time; publishing anyway"
                        );
                    }
                    l.resubscribe_until = None;
                    if failures > 0 {
                        tracing::info!(
                            backlog = outbox.unsent().len(),
                            "cluster: publishing to Redis again"
                        );
                    }
                    failures = 0;
                    backoff = BACKOFF_MIN_MS;
                    bus.set_pub_up(true);
                }
                Ok(_) => continue,
                Err(e) => {
                    broke(bus, &mut link, &mut expect_subscribers, &e);
                    retry_at = now + backoff;
                    continue;
                }
            }
        }
        let ready = link.as_ref().is_some_and(|l| l.resubscribe_until.is_none());
        if !ready {
            // Not publishing: the Node peers cannot be asked now.
            for (request_id, _) in asks.drain(..) {
                let c = bus.node_queries.lock().fail(&request_id);
                if let Some(c) = c {
                    c.run();
                }
            }
            continue;
        }
        let Some(l) = link.as_mut() else { continue };
        if let Err(e) = flush(bus, &mut outbox, &mut l.con, &all, &mut channels)
            .and_then(|()| ask_nodes(bus, &mut l.con, &mut asks))
        {
            broke(bus, &mut link, &mut expect_subscribers, &e);
            retry_at = bus.now() + backoff;
        }
    }
    // Shutting down: say goodbye, publish what is left if it goes quickly.
    if let Some(mut l) = link.filter(|l| l.resubscribe_until.is_none()) {
        outbox.push_control(Dest::All, Body::Bye);
        let _ = l.con.set_read_timeout(Some(Duration::from_millis(500)));
        let _ = flush(bus, &mut outbox, &mut l.con, &all, &mut channels);
    }
    let (ops, freed) = outbox.drop_unsent();
    bus.freed(freed);
    if ops > 0 {
        tracing::warn!(
            dropped = ops,
            "cluster: operations not published before shutdown"
        );
    }
    bus.set_pub_up(false);
}

fn take(bus: &Bus, outbox: &mut Outbox, asks: &mut Vec<(String, Vec<u8>)>, w: Work, ready: bool) {
    match w {
        Work::Send(out) => outbox.push(out),
        Work::AskNodes {
            request_id,
            request,
        } => asks.push((request_id, request)),
        Work::Replay {
            node,
            stream,
            from,
            to,
        } => {
            if ready && outbox.unsent().len() < MAX_UNSENT_FOR_REPLAY {
                let n = outbox.replay(node, stream, from, to);
                bus.metrics.replays.inc_by(n as u64);
            }
        }
    }
}

fn broke(bus: &Bus, link: &mut Option<Link>, expect: &mut usize, e: &redis::RedisError) {
    *expect = bus.members.read().count();
    *link = None;
    bus.set_pub_up(false);
    tracing::warn!("cluster: lost the publishing connection to Redis: {e}; buffering");
}

fn connect(client: &redis::Client) -> redis::RedisResult<redis::Connection> {
    let con = client.get_connection_with_timeout(IO_TIMEOUT)?;
    con.set_read_timeout(Some(IO_TIMEOUT))?;
    con.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(con)
}

/// Sends the queued requests to the Node peers of a mixed cluster, each after
/// counting who will answer: the subscribers of their request channel but the
/// roomcast nodes, which answer each other on roomcast's channels.
fn ask_nodes(
    bus: &Bus,
    con: &mut redis::Connection,
    asks: &mut Vec<(String, Vec<u8>)>,
) -> redis::RedisResult<()> {
    let Some(compat) = &bus.compat else {
        asks.clear();
        return Ok(());
    };
    let channel = super::compat::channel::request_channel(&compat.key, "/");
    for (request_id, request) in asks.drain(..) {
        let result = numsub(con, &channel).and_then(|n| {
            redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(&request)
                .query::<usize>(con)
                .map(|_| n)
        });
        let c = match result {
            Ok(n) => {
                let peers = n.saturating_sub(bus.members.read().count());
                bus.node_queries.lock().expect(&request_id, peers)
            }
            Err(e) => {
                let c = bus.node_queries.lock().fail(&request_id);
                if let Some(c) = c {
                    c.run();
                }
                return Err(e);
            }
        };
        if let Some(c) = c {
            c.run();
        }
    }
    Ok(())
}

fn numsub(con: &mut redis::Connection, channel: &str) -> redis::RedisResult<usize> {
    let (_, n): (String, usize) = redis::cmd("PUBSUB").arg("NUMSUB").arg(channel).query(con)?;
    Ok(n)
}

/// Publishes the outbox in pipelines until it is empty.
fn flush(
    bus: &Bus,
    outbox: &mut Outbox,
    con: &mut redis::Connection,
    all: &str,
    channels: &mut HashMap<NodeId, String>,
) -> redis::RedisResult<()> {
    if channels.len() > 4096 {
        channels.clear(); // names of nodes long gone
    }
    while !outbox.unsent().is_empty() {
        let mut pipe = redis::pipe();
        let (mut n, mut bytes) = (0, 0);
        for e in outbox.unsent() {
            if n == BATCH_MESSAGES || (n > 0 && bytes + e.bytes.len() > BATCH_BYTES) {
                break;
            }
            let channel = match &e.dest {
                Dest::All => all,
                Dest::Channel(c) => c.as_ref(),
                Dest::Node(node) => channels
                    .entry(*node)
                    .or_insert_with(|| bus.node_channel(*node))
                    .as_str(),
            };
            pipe.cmd("PUBLISH").arg(channel).arg(&e.bytes[..]);
            n += 1;
            bytes += e.bytes.len();
        }
        let _: Vec<i64> = pipe.query(con)?;
        bus.freed(outbox.acked(n));
        bus.metrics.publishes.inc_by(n as u64);
    }
    Ok(())
}
