//! `GET /metrics`: the server's counters in the Prometheus/OpenMetrics text format,
//! encoded by `prometheus-client`.
//!
//! Every worker owns a [`WorkerMetrics`] (handles into shared metric families,
//! labelled `worker="<n>"`) and publishes its shard's counters at the end of each
//! tick with a few relaxed atomic stores, so the fanout path takes no lock and a
//! scrape (on whichever worker serves it) reads atomics only. The loop-iteration
//! histogram takes an uncontended per-worker lock once a tick.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `roomcast_connections` | gauge | `worker`, `protocol` (`eio3`, `eio4`) |
//! | `roomcast_sockets`, `roomcast_rooms`, `roomcast_memberships` | gauge | `worker` |
//! | `roomcast_broadcasts_total`, `roomcast_deliveries_total`, `roomcast_writes_total`, `roomcast_written_bytes_total`, `roomcast_slow_consumer_closes_total` | counter | `worker` |
//! | `roomcast_protocol_errors_total` | counter | `kind` (`http`, `handshake`, `websocket`, `engine_io`, `socket_io`, `heartbeat`) |
//! | `roomcast_accepted_connections_total`, `roomcast_upgrades_total`, `roomcast_rejected_requests_total` | counter | — |
//! | `roomcast_log_lines_dropped_total` | counter | — |
//! | `roomcast_access_refusals_total` | counter | `reason` (`origin`, `token_missing`, `token_invalid`, `token_expired`, `token_not_yet_valid`, `room_forbidden`, `rate_limited`, `rate_abuse`, `webhook_refused`, `webhook_timeout`, `webhook_error`, `webhook_busy`) |
//! | `roomcast_loop_iteration_seconds` | histogram | `worker` |
//!
//! Deliveries per write (the coalescing the design aims at) is
//! `rate(roomcast_deliveries_total[1m]) / rate(roomcast_writes_total[1m])`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use roomcast::ShardStats;

/// Counters of the whole server (relaxed atomics, for logs, metrics and
/// [`StatsHandle`](crate::app::StatsHandle)).
#[derive(Debug, Default)]
pub(crate) struct RuntimeStats {
    /// Connections accepted.
    pub(crate) accepted: AtomicU64,
    /// WebSocket upgrades completed.
    pub(crate) upgraded: AtomicU64,
    /// Requests refused before the upgrade (HTTP errors).
    pub(crate) rejected: AtomicU64,
    /// Connections closed as slow consumers.
    pub(crate) slow_consumers: AtomicU64,
    /// Connections handed to the worker that owns their long-polling session.
    pub(crate) handovers: AtomicU64,
}

/// The `Content-Type` of `GET /metrics`.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;

/// The registry and the metric families of the whole server.
pub(crate) struct Metrics {
    registry: Registry,
    protocol_errors: Family<Labels, Counter>,
    access_refusals: Family<Labels, Counter>,
    accepted: Counter,
    upgraded: Counter,
    rejected: Counter,
    log_dropped: Counter,
    workers: Vec<WorkerMetrics>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

/// One worker's handles (cheap clones of the shared metrics).
#[derive(Clone, Debug)]
pub(crate) struct WorkerMetrics {
    eio3: Gauge,
    eio4: Gauge,
    sockets: Gauge,
    rooms: Gauge,
    memberships: Gauge,
    broadcasts: Counter,
    deliveries: Counter,
    writes: Counter,
    bytes_written: Counter,
    slow_consumers: Counter,
    loop_seconds: Histogram,
}

impl Metrics {
    /// Metrics for `workers` workers.
    pub(crate) fn new(workers: usize) -> Metrics {
        let mut registry = Registry::with_prefix("roomcast");
        let connections = Family::<Labels, Gauge>::default();
        let gauge = |name: &str, help: &str, r: &mut Registry| {
            let f = Family::<Labels, Gauge>::default();
            r.register(name, help, f.clone());
            f
        };
        let counter = |name: &str, help: &str, r: &mut Registry| {
            let f = Family::<Labels, Counter>::default();
            r.register(name, help, f.clone());
            f
        };
        registry.register(
            "connections",
            "Open Socket.IO connections by Engine.IO protocol version",
            connections.clone(),
        );
        let sockets = gauge("sockets", "Sockets in the engine", &mut registry);
        let rooms = gauge("rooms", "Rooms with at least one member", &mut registry);
        let memberships = gauge(
            "memberships",
            "Socket-in-room memberships (own id rooms excluded)",
            &mut registry,
        );
        let broadcasts = counter(
            "broadcasts",
            "Broadcast and blast operations applied",
            &mut registry,
        );
        let deliveries = counter(
            "deliveries",
            "Frames queued to sockets (one per recipient per frame)",
            &mut registry,
        );
        let writes = counter(
            "writes",
            "Vectored writes to sockets (deliveries / writes = coalescing)",
            &mut registry,
        );
        let bytes_written = counter(
            "written_bytes",
            "Bytes the kernel took from socket writes",
            &mut registry,
        );
        let slow_consumers = counter(
            "slow_consumer_closes",
            "Connections closed for passing the outbound limit",
            &mut registry,
        );
        let protocol_errors = counter(
            "protocol_errors",
            "Connections refused or closed for a protocol error, by kind",
            &mut registry,
        );
        let access_refusals = counter(
            "access_refusals",
            "Connections and calls refused by the access rules (tokens, origins, rooms, rates), by reason",
            &mut registry,
        );
        let loop_seconds: Family<Labels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(1e-6, 4.0, 12)));
        registry.register(
            "loop_iteration_seconds",
            "Busy time of one worker loop iteration (poll wait excluded)",
            loop_seconds.clone(),
        );
        let accepted = Counter::default();
        registry.register(
            "accepted_connections",
            "TCP connections accepted",
            accepted.clone(),
        );
        let upgraded = Counter::default();
        registry.register("upgrades", "WebSocket upgrades completed", upgraded.clone());
        let rejected = Counter::default();
        registry.register(
            "rejected_requests",
            "HTTP requests refused before an upgrade",
            rejected.clone(),
        );
        let log_dropped = Counter::default();
        registry.register(
            "log_lines_dropped",
            "Log lines dropped: the log writer could not keep up, stderr refused them, or the per-worker limit on client-caused lines held them back",
            log_dropped.clone(),
        );
        let workers = (0..workers)
            .map(|w| {
                let l = vec![("worker", w.to_string())];
                let with = |k: &'static str, v: &str| {
                    let mut l = l.clone();
                    l.push((k, v.to_owned()));
                    l
                };
                WorkerMetrics {
                    eio3: get(&connections, &with("protocol", "eio3")),
                    eio4: get(&connections, &with("protocol", "eio4")),
                    sockets: get(&sockets, &l),
                    rooms: get(&rooms, &l),
                    memberships: get(&memberships, &l),
                    broadcasts: get(&broadcasts, &l),
                    deliveries: get(&deliveries, &l),
                    writes: get(&writes, &l),
                    bytes_written: get(&bytes_written, &l),
                    slow_consumers: get(&slow_consumers, &l),
                    loop_seconds: get(&loop_seconds, &l),
                }
            })
            .collect();
        Metrics {
            registry,
            protocol_errors,
            access_refusals,
            accepted,
            upgraded,
            rejected,
            log_dropped,
            workers,
        }
    }

    /// Adds the cluster's metrics (`roomcast_cluster_…`).
    pub(crate) fn register_cluster(&mut self, cluster: &crate::cluster::metrics::ClusterMetrics) {
        cluster.register(&mut self.registry);
    }

    /// Worker `index`'s handles.
    pub(crate) fn worker(&self, index: usize) -> WorkerMetrics {
        self.workers
            .get(index)
            .cloned()
            .unwrap_or_else(|| Metrics::new(index + 1).workers[index].clone())
    }

    /// Counts a protocol error of `kind`.
    pub(crate) fn protocol_error(&self, kind: &'static str) {
        self.protocol_errors
            .get_or_create(&vec![("kind", kind.to_owned())])
            .inc();
    }

    /// Counts an access refusal for `reason`.
    pub(crate) fn access_refusal(&self, reason: &'static str) {
        self.access_refusals
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    /// The text exposition, with the runtime's own counters as of now.
    pub(crate) fn render(&self, stats: &RuntimeStats) -> String {
        store(&self.accepted, stats.accepted.load(Ordering::Relaxed));
        store(&self.upgraded, stats.upgraded.load(Ordering::Relaxed));
        store(&self.rejected, stats.rejected.load(Ordering::Relaxed));
        store(&self.log_dropped, crate::logging::dropped_lines());
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// A family member's handle. (A function, so that the family's read guard is
/// dropped before the next lookup: two guards alive in one expression would
/// deadlock a lookup that needs to insert.)
fn get<M: Clone, C: MetricConstructor<M>>(family: &Family<Labels, M, C>, labels: &Labels) -> M {
    let m = family.get_or_create(labels);
    M::clone(&m)
}

fn store(c: &Counter, v: u64) {
    let a: &AtomicU64 = c.inner();
    a.store(v, Ordering::Relaxed);
}

fn set(g: &Gauge, v: usize) {
    let a: &AtomicI64 = g.inner();
    a.store(i64::try_from(v).unwrap_or(i64::MAX), Ordering::Relaxed);
}

impl WorkerMetrics {
    /// Publishes a tick's state: connections by version, the shard's sizes and
    /// counters.
    pub(crate) fn publish(&self, eio3: usize, eio4: usize, sizes: [usize; 3], stats: &ShardStats) {
        set(&self.eio3, eio3);
        set(&self.eio4, eio4);
        set(&self.sockets, sizes[0]);
        set(&self.rooms, sizes[1]);
        set(&self.memberships, sizes[2]);
        store(&self.broadcasts, stats.broadcasts);
        store(&self.deliveries, stats.deliveries);
        store(&self.writes, stats.writes);
        store(&self.bytes_written, stats.bytes_written);
        store(&self.slow_consumers, stats.slow_consumers);
    }

    /// Records one loop iteration's busy time.
    pub(crate) fn observe_loop(&self, seconds: f64) {
        self.loop_seconds.observe(seconds);
    }
}
