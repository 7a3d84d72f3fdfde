//! The cluster's metrics, registered in the server's registry (`GET /metrics`)
//! when the node joins a cluster. Updated by the cluster threads directly (each
//! handle is an atomic).
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `roomcast_cluster_publishes_total` | counter | messages Redis acknowledged (ops, replies, heartbeats, replays) |
//! | `roomcast_cluster_receives_total` | counter | messages from other nodes received |
//! | `roomcast_cluster_buffer_bytes` | gauge | bytes queued for Redis and not yet acknowledged (bounded by `--cluster-buffer`) |
//! | `roomcast_cluster_dropped_total` | counter | operations dropped because the buffer was full |
//! | `roomcast_cluster_lost_total` | counter | operations of other nodes never received (not recovered by a replay) |
//! | `roomcast_cluster_duplicates_total` | counter | messages received twice and dropped |
//! | `roomcast_cluster_replays_total` | counter | messages sent again to a node that lost them |
//! | `roomcast_cluster_decode_errors_total` | counter | messages on the bus that were refused (not ours, bad, another version, too large) |
//! | `roomcast_cluster_clashes_total` | counter | messages from another process using this node's number |
//! | `roomcast_cluster_nodes` | gauge | live nodes, this one included |
//! | `roomcast_cluster_redis_up` | gauge | 1 when both connections to Redis are up |
//! | `roomcast_cluster_round_trip_seconds` | histogram | request to answer from another node (queries, confirmations) |

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// See the [module docs](self).
#[derive(Debug, Clone)]
pub(crate) struct ClusterMetrics {
    pub(crate) publishes: Counter,
    pub(crate) receives: Counter,
    pub(crate) buffer_bytes: Gauge,
    pub(crate) dropped: Counter,
    pub(crate) lost: Counter,
    pub(crate) duplicates: Counter,
    pub(crate) replays: Counter,
    pub(crate) decode_errors: Counter,
    pub(crate) clashes: Counter,
    pub(crate) nodes: Gauge,
    pub(crate) redis_up: Gauge,
    pub(crate) round_trip: Histogram,
    /// Broadcasts from socket.io nodes applied (`--cluster-compat`).
    pub(crate) compat_in: Counter,
    /// Broadcasts from socket.io nodes not bridged (another namespace,
    /// binary arguments, `local`).
    pub(crate) compat_skipped: Counter,
}

impl Default for ClusterMetrics {
    fn default() -> Self {
        ClusterMetrics {
            publishes: Counter::default(),
            receives: Counter::default(),
            buffer_bytes: Gauge::default(),
            dropped: Counter::default(),
            lost: Counter::default(),
            duplicates: Counter::default(),
            replays: Counter::default(),
            decode_errors: Counter::default(),
            clashes: Counter::default(),
            nodes: Gauge::default(),
            redis_up: Gauge::default(),
            round_trip: Histogram::new(exponential_buckets(1e-4, 2.0, 16)),
            compat_in: Counter::default(),
            compat_skipped: Counter::default(),
        }
    }
}

impl ClusterMetrics {
    /// Registers every handle under `roomcast_cluster_…`.
    pub(crate) fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("cluster");
        r.register(
            "publishes",
            "Messages Redis acknowledged",
            self.publishes.clone(),
        );
        r.register(
            "receives",
            "Messages from other nodes received",
            self.receives.clone(),
        );
        r.register(
            "buffer_bytes",
            "Bytes queued for Redis and not yet acknowledged",
            self.buffer_bytes.clone(),
        );
        r.register(
            "dropped",
            "Operations dropped because the cluster buffer was full",
            self.dropped.clone(),
        );
        r.register(
            "lost",
            "Operations of other nodes never received",
            self.lost.clone(),
        );
        r.register(
            "duplicates",
            "Messages received twice and dropped",
            self.duplicates.clone(),
        );
        r.register(
            "replays",
            "Messages sent again to a node that lost them",
            self.replays.clone(),
        );
        r.register(
            "decode_errors",
            "Messages on the cluster channels that were refused",
            self.decode_errors.clone(),
        );
        r.register(
            "clashes",
            "Messages from another process using this node's number",
            self.clashes.clone(),
        );
        r.register("nodes", "Live nodes, this one included", self.nodes.clone());
        r.register(
            "redis_up",
            "1 when both connections to Redis are up",
            self.redis_up.clone(),
        );
        r.register(
            "compat_in",
            "Broadcasts and requests from socket.io nodes applied here (--cluster-compat)",
            self.compat_in.clone(),
        );
        r.register(
            "compat_skipped",
            "Broadcasts and requests from socket.io nodes not acted on (another namespace, binary arguments, local, serverSideEmit)",
            self.compat_skipped.clone(),
        );
        r.register(
            "round_trip_seconds",
            "Request to answer from another node",
            self.round_trip.clone(),
        );
    }
}
