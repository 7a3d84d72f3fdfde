//! Several roomcast nodes as one server, over Redis pub/sub (`--redis URL`).
//! `docs/CLUSTER.md` tells the whole design; in short:
//!
//! * Room operations (broadcast, blast, leaveAll, room to rooms) are applied
//!   locally and published **once** on `{prefix}#all`; every other node applies
//!   them to its own members (a socket in several rooms still gets one copy).
//! * Operations on socket ids go to the node the id names, on that node's own
//!   channel `{prefix}#node#<hex>`; a `join`/`leave`/`emit` whose caller waits
//!   is answered once the owner confirmed it applied it.
//! * Room and socket queries ask the live nodes and say who did not answer.
//! * Operations are numbered per sender and stream: receivers drop duplicates,
//!   notice gaps and ask the sender to send the missing ones again; while Redis
//!   is down operations are buffered (`--cluster-buffer`) and published, in
//!   order, once the known nodes subscribed again.
//! * Heartbeats every second; a node silent for 3 s is gone.
//!
//! Redis I/O runs on two threads of this module — a publisher ([`publisher`])
//! and a subscriber ([`subscriber`]) — never on a worker: the adapter
//! ([`adapter`]) only queues messages ([`bus`]). The protocol pieces are
//! sans-IO and tested in memory: the message format ([`envelope`]), the
//! bounded RESP reader ([`resp`]), ordering and recovery ([`inbox`],
//! [`outbox`]), members ([`members`]) and waiting requests ([`pending`]).

mod adapter;
mod bridge;
mod broadcast_acks;
mod bus;
pub(crate) mod compat;
mod config;
pub(crate) mod envelope;
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzz_driver;
mod inbox;
mod members;
pub(crate) mod metrics;
mod mixed;
mod node_queries;
mod outbox;
mod pending;
mod publisher;
mod requests;
pub(crate) mod resp;
mod subscriber;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use roomcast::Engine;
use serde_json::{json, Value};

use self::bus::Bus;
use self::config::endpoint;
pub(crate) use self::config::{
    check_redis_url, ClusterConfig, CompatConfig, DEFAULT_BUFFER, DEFAULT_COMPAT_KEY,
    DEFAULT_PREFIX, DEFAULT_TIMEOUT_MS,
};
use self::envelope::Origin;
use self::metrics::ClusterMetrics;

/// A running cluster membership and its threads; stopped when dropped.
#[derive(Debug)]
pub(crate) struct Cluster {
    bus: Arc<Bus>,
    threads: Vec<JoinHandle<()>>,
}

/// What `GET /api/cluster` shows, readable from any worker.
#[derive(Debug, Clone)]
pub(crate) struct ClusterView {
    bus: Arc<Bus>,
}

impl Cluster {
    /// Joins the cluster: sets the engine's adapter and starts the publisher and
    /// subscriber threads (which connect, and keep reconnecting, on their own).
    ///
    /// # Errors
    ///
    /// A bad URL, or threads that cannot start.
    pub(crate) fn start(
        engine: &Engine,
        node_name: &str,
        config: ClusterConfig,
        metrics: ClusterMetrics,
    ) -> Result<Cluster, String> {
        let (client, endpoint) = endpoint(&config.redis)?;
        let me = Origin {
            name: node_name.to_owned(),
            node: engine.node(),
            inc: rand::random::<u64>() | 1,
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let bus = Arc::new(Bus::new(me, config, engine.clone(), metrics, tx));
        if !engine.set_adapter(Arc::new(adapter::ClusterAdapter::new(Arc::clone(&bus)))) {
            return Err("the engine already has a cluster adapter".into());
        }
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| format!("cannot start the {name} thread: {e}"))
        };
        let b = Arc::clone(&bus);
        let publisher = spawn(
            "roomcast-cluster-pub",
            Box::new(move || publisher::run(&b, &rx, &client)),
        )?;
        let b = Arc::clone(&bus);
        let subscriber = spawn(
            "roomcast-cluster-sub",
            Box::new(move || subscriber::run(&b, &endpoint)),
        )?;
        tracing::info!(
            node = %bus.me.name,
            redis = %config::redact(&bus.config.redis),
            prefix = %bus.config.prefix,
            "cluster: joining over Redis"
        );
        Ok(Cluster {
            bus,
            threads: vec![publisher, subscriber],
        })
    }

    /// A view for `GET /api/cluster`.
    pub(crate) fn view(&self) -> ClusterView {
        ClusterView {
            bus: Arc::clone(&self.bus),
        }
    }

    /// Leaves the cluster: says goodbye, stops the threads (waiting a bounded
    /// time for them).
    pub(crate) fn stop(&mut self) {
        self.bus.stopping.store(true, Ordering::Release);
        let deadline = Instant::now() + Duration::from_secs(3);
        for t in self.threads.drain(..) {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
        let c = self.bus.pending.lock().drain();
        Bus::complete(c);
    }
}

impl ClusterView {
    /// A client acked ack id `id` on namespace `/` (its first argument `first`,
    /// raw JSON): forwarded if it acks a socket.io broadcast with acks this
    /// node delivered (a mixed cluster); ignored otherwise.
    pub(crate) fn client_ack(&self, id: u64, first: &str, attachments: Vec<bytes::Bytes>) {
        mixed::client_ack(&self.bus, id, first, attachments);
    }

    /// `GET /api/cluster`: this node, Redis, and every live node.
    pub(crate) fn status(&self) -> Value {
        let now = self.bus.now();
        let members = self.bus.members.read();
        let mut nodes = vec![json!({
            "id": self.bus.me.name,
            "sockets": self.bus.engine.live_sockets(),
            "lastSeenMs": 0,
        })];
        let mut others: Vec<_> = members.others().collect();
        others.sort_by(|a, b| a.name.cmp(&b.name));
        nodes.extend(others.into_iter().map(|m| {
            json!({
                "id": m.name,
                "sockets": m.sockets,
                "lastSeenMs": now.saturating_sub(m.last_seen),
            })
        }));
        json!({
            "self": self.bus.me.name,
            "redis": if self.bus.redis_up() { "up" } else { "down" },
            "nodes": nodes,
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
