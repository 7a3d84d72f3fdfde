//! [`Bus`]: what the adapter (on worker threads), the publisher thread and the
//! subscriber thread share — the queue to the publisher with its byte bound,
//! the member table, the requests waiting for answers, the connection states,
//! the metrics and the clock.
//!
//! Nothing here blocks a worker: queueing is a channel send after one atomic
//! add, and the locks (members, pending requests) are held for table updates
//! only, never across I/O or a callback.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use crossbeam_channel::Sender;
use parking_lot::{Mutex, RwLock};
use roomcast::{Engine, NodeId};

use super::config::ClusterConfig;
use super::envelope::{Origin, Stream};
use super::members::Members;
use super::metrics::ClusterMetrics;
use super::outbox::Outgoing;
use super::pending::{Completion, Pending};

/// Work for the publisher thread.
#[derive(Debug)]
pub(crate) enum Work {
    /// Publish this.
    Send(Outgoing),
    /// `node` lost `stream` messages `from..=to`: send them again.
    Replay {
        node: NodeId,
        stream: Stream,
        from: u64,
        to: u64,
    },
    /// Ask the Node peers of a mixed cluster (`PUBSUB NUMSUB` of their
    /// request channel for the number of answers, then publish `request`).
    AskNodes {
        /// The request's id ([`super::node_queries`]).
        request_id: String,
        /// The request, in the peers' format.
        request: Vec<u8>,
    },
}

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Bus {
    pub(crate) me: Origin,
    pub(crate) config: ClusterConfig,
    pub(crate) engine: Engine,
    pub(crate) metrics: ClusterMetrics,
    pub(crate) members: RwLock<Members>,
    pub(crate) pending: Mutex<Pending>,
    /// socket.io broadcasts with acks this node delivered (a mixed cluster).
    pub(crate) acks: Mutex<super::broadcast_acks::BroadcastAcks>,
    /// This node's room queries waiting for Node peers (a mixed cluster).
    pub(crate) node_queries: Mutex<super::node_queries::NodeQueries>,
    /// In a mixed cluster (`--cluster-compat`): the adapter key and this
    /// node's uid in socket.io's format.
    pub(crate) compat: Option<Compat>,
    work: Sender<Work>,
    /// Bytes queued for Redis and not yet acknowledged.
    buffered: AtomicUsize,
    pub_up: AtomicBool,
    sub_up: AtomicBool,
    pub(crate) stopping: AtomicBool,
    started: Instant,
    /// When a full buffer was last logged (ms), to log once per interval.
    drop_logged: AtomicU64,
    dropped_since_log: AtomicU64,
}

/// This node as a socket.io adapter: its key and uid (6 characters of
/// `[A-Za-z0-9]`, as socket.io's `uid2(6)`).
#[derive(Debug)]
pub(crate) struct Compat {
    pub(crate) key: String,
    pub(crate) uid: String,
    /// A Sails cluster: the admin bus too.
    pub(crate) sails: bool,
}

impl Compat {
    fn new(key: &str, sails: bool) -> Compat {
        use rand::Rng;
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::rng();
        let uid = (0..6)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        Compat {
            key: key.to_owned(),
            uid,
            sails,
        }
    }
}

/// Milliseconds between two log lines about a full buffer.
const DROP_LOG_MS: u64 = 10_000;

impl Bus {
    pub(crate) fn new(
        me: Origin,
        config: ClusterConfig,
        engine: Engine,
        metrics: ClusterMetrics,
        work: Sender<Work>,
    ) -> Bus {
        let members = RwLock::new(Members::new(me.clone()));
        metrics.nodes.set(1);
        let compat = config.compat.as_ref().map(|c| Compat::new(&c.key, c.sails));
        Bus {
            me,
            config,
            engine,
            metrics,
            members,
            pending: Mutex::new(Pending::default()),
            acks: Mutex::new(super::broadcast_acks::BroadcastAcks::default()),
            node_queries: Mutex::new(super::node_queries::NodeQueries::default()),
            compat,
            work,
            buffered: AtomicUsize::new(0),
            pub_up: AtomicBool::new(false),
            sub_up: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            started: Instant::now(),
            drop_logged: AtomicU64::new(0),
            dropped_since_log: AtomicU64::new(0),
        }
    }

    /// Milliseconds since the cluster started.
    pub(crate) fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Queues `out` for the publisher unless the buffer is full: then the
    /// message is dropped, counted and (once per interval) logged, and false
    /// is returned.
    pub(crate) fn send(&self, out: Outgoing) -> bool {
        let cost = out.cost;
        let before = self.buffered.fetch_add(cost, Ordering::AcqRel);
        if before + cost > self.config.buffer {
            self.buffered.fetch_sub(cost, Ordering::AcqRel);
            self.dropped();
            return false;
        }
        self.metrics.buffer_bytes.inc_by(cost as i64);
        if self.work.send(Work::Send(out)).is_err() {
            // The publisher is gone (shutting down).
            self.freed(cost);
            return false;
        }
        true
    }

    /// Queues a replay request for the publisher.
    pub(crate) fn replay(&self, node: NodeId, stream: Stream, from: u64, to: u64) {
        let _ = self.work.send(Work::Replay {
            node,
            stream,
            from,
            to,
        });
    }

    /// Queues a request to the Node peers of a mixed cluster.
    pub(crate) fn ask_nodes(&self, request_id: String, request: Vec<u8>) {
        let _ = self.work.send(Work::AskNodes {
            request_id,
            request,
        });
    }

    /// `bytes` of the buffer were acknowledged by Redis (or given up on).
    pub(crate) fn freed(&self, bytes: usize) {
        if bytes > 0 {
            self.buffered.fetch_sub(bytes, Ordering::AcqRel);
            self.metrics.buffer_bytes.dec_by(bytes as i64);
        }
    }

    fn dropped(&self) {
        self.metrics.dropped.inc();
        let n = self.dropped_since_log.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.now();
        let last = self.drop_logged.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= DROP_LOG_MS)
            && self
                .drop_logged
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.dropped_since_log.store(0, Ordering::Relaxed);
            tracing::warn!(
                dropped = n,
                buffer = self.config.buffer,
                "cluster buffer full (Redis down or too slow): operations for other nodes dropped \
                 (roomcast_cluster_dropped_total); raise --cluster-buffer to ride out longer outages"
            );
        }
    }

    /// Both connections to Redis are up.
    pub(crate) fn redis_up(&self) -> bool {
        self.pub_up.load(Ordering::Acquire) && self.sub_up.load(Ordering::Acquire)
    }

    pub(crate) fn set_pub_up(&self, up: bool) {
        self.pub_up.store(up, Ordering::Release);
        self.metrics.redis_up.set(i64::from(self.redis_up()));
    }

    pub(crate) fn set_sub_up(&self, up: bool) {
        self.sub_up.store(up, Ordering::Release);
        self.metrics.redis_up.set(i64::from(self.redis_up()));
    }

    /// Runs completions of waiting requests (outside every lock).
    pub(crate) fn complete(completions: Vec<Completion>) {
        for c in completions {
            c();
        }
    }

    /// Records a round trip of `ms` milliseconds.
    pub(crate) fn round_trip(&self, ms: u64) {
        self.metrics.round_trip.observe(ms as f64 / 1000.0);
    }

    /// `{prefix}#all`.
    pub(crate) fn all_channel(&self) -> String {
        format!("{}#all", self.config.prefix)
    }

    /// `{prefix}#node#<hex>`.
    pub(crate) fn node_channel(&self, node: NodeId) -> String {
        format!("{}#node#{node}", self.config.prefix)
    }
}
