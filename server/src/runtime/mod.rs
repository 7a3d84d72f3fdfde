//! The mio runtime: an acceptor thread and `N` worker threads, each with its own
//! `mio::Poll`, `mio::Waker`, connections and core [`Shard`].
//!
//! # Threads
//!
//! * **Acceptor** (one thread): owns the listening socket, accepts until
//!   `WouldBlock`, and hands each new stream to the next worker, round-robin,
//!   over a crossbeam channel followed by that worker's `Waker`. Chosen over
//!   `SO_REUSEPORT` listeners per worker because the kernel spreads reuseport
//!   connections by a hash of the 4-tuple, which skews badly for the few, long-lived
//!   connections of a load test or a single proxy in front of the server, while
//!   round-robin is exact; the extra hop costs one channel send and one wake-up per
//!   *connection*, never per message; it is portable; and port 0 (tests) needs no
//!   special handling. Accepting is not the bottleneck of a fanout server,
//!   measured: a storm of 5,000 clients with 2,000 connects in flight is
//!   accepted at 17-19k connections/s on one worker core (the floor program
//!   manages about 19.5k), and waking the worker once per 64 accepts instead of
//!   once per accept made no measurable difference, so it stays per accept.
//!   What did matter is the **accept backlog**: with mio's default of 1024 the
//!   burst overflowed the kernel's accept queue, clients' SYNs were dropped and
//!   retried a second later (2.4k connections/s); the listener is now bound with
//!   `backlog` (default 4096, capped by `net.core.somaxconn`).
//! * **Workers**: see `worker.rs` (the readiness loop) and `connection.rs` (each
//!   connection's phases). Everything a connection does happens on its
//!   worker: its HTTP handshake, its WebSocket and Engine.IO/Socket.IO state, its
//!   route actions (with the worker's shard, so a route's broadcast reaches the
//!   requester before the ack), and its writes. Other threads reach a worker's
//!   sockets only through the engine's channels, which wake the worker's `Waker`.
//!
//! # Socket ids
//!
//! A core socket is `open`ed when the WebSocket upgrade is accepted and its id is
//! the Engine.IO `sid` of the open packet, so a v3 client (whose socket id *is*
//! the engine sid) and a v5 client (answered `40{"sid":<the same id>}`) both see
//! the id `GET /sockets/id` returns and rooms are keyed by. The socket is
//! `activate`d (joins its own room, reached by blasts) when the `/` CONNECT is
//! accepted; a CONNECT to another namespace is answered with the same id. A `41`
//! on `/` deactivates the socket: it leaves every room (its own id room too) and
//! is no longer reached by blasts; the id stays the connection's until it closes
//! (a new `40` gets the same id back and activates it again).
//!
//! # Bytes out
//!
//! Every byte to an upgraded connection, the `101` response included, goes through
//! the worker's shard (`Shard::send`, then `Shard::drain` at the end of the tick),
//! so broadcasts, acks, pings and close frames keep one order. The drain's writer
//! does one write (`send`, or `sendmsg` for several frames) per dirty socket; what
//! the kernel does not take stays on the shard's per-socket backlog and is flushed
//! on the next `WRITABLE` edge (connections are registered for both readiness kinds
//! once, edge-triggered). A socket whose backlog passes `outbound_limit` is a
//! **slow consumer**: the shard stops queueing to it and the worker closes it with
//! WebSocket close code **1008** (policy violation) and reason `"slow consumer"` —
//! written only if the stream is at a frame boundary and the kernel takes it, which
//! for a peer that stopped reading it usually will not — then closes TCP, logs a
//! `warn!` line and counts it in [`RuntimeStats::slow_consumers`].
//!
//! # Limits and timeouts
//!
//! * HTTP request head: `HandshakeConfig::max_head_bytes` (16 KiB), else `431`.
//! * A connection that has not completed its request head within
//!   `handshake_timeout_ms` (10 s) is closed. Plain HTTP requests (`/health`,
//!   `/metrics`, the demo page at `/`, the admin API under `/api/`; see
//!   `admin_http.rs`) are HTTP/1.1 keep-alive: after a response the same deadline
//!   applies to the next request, head *and* body, so a slow, idle or garbage
//!   client is closed after it without touching any WebSocket. Bodies need a
//!   `Content-Length` of at most `max_http_body` (1 MiB; else `413`; chunked
//!   bodies get `501`). A keep-alive connection reads nothing while its
//!   answer is pending, so pipelined requests are answered in order.
//! * Admin reads that need every shard (`GET /api/rooms/:room`) or another shard
//!   (`GET /api/sockets/:id`) never block a worker: the connection is *parked*,
//!   `Engine::query` mails the query to every shard, each adds its part, and the
//!   last one sends the answer over a channel and wakes the requesting worker's
//!   `Waker`, which writes it (503 if it does not come within
//!   `handshake_timeout_ms`).
//! * WebSocket messages: at most `max_payload` bytes, else close 1009; the read
//!   buffer holds at most one read chunk plus one partial frame header (the codec
//!   consumes payload as it arrives).
//! * Heartbeats and the connect timeout come from each `Session::next_deadline`,
//!   kept in per-worker deadline FIFOs (`deadlines.rs`; lazy: an entry is checked against the
//!   connection's current deadline when it fires).
//! * After we send a close frame, the peer has `close_timeout_ms` (2 s) to answer.
//! * A connection is read at most `READS_PER_TICK` (16) times a tick so one
//!   busy client cannot starve the others.
//!
//! Nothing here panics on input: every bad input closes only its connection, with
//! an HTTP status or a WebSocket close code, and a `tracing` line.
//!
//! Throughput and latency figures, with the commands that produced them, are in
//! `BENCHMARKS.md`.
//!
//! # Shutdown
//!
//! [`ShutdownSignal::trigger`] sets a flag and wakes every thread: the acceptor
//! drops the listener, each worker sends close 1001 `"server shutting down"` on
//! every WebSocket, drops connections still in their handshake, and keeps running
//! until its connections are gone or `shutdown_timeout_ms` passes.

mod acceptor;
mod access_table;
mod admin_http;
mod admission;

mod app_state;
mod conn_key;
mod connection;
mod deadlines;
#[cfg(feature = "engine-echo")]
mod engine_echo;
mod env;
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzz_driver;
mod log_limit;
mod metrics;
mod poll_table;
mod polling;
mod session_events;
mod shutdown;
mod slab;
mod stream_writer;
mod webhook;
mod worker;

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use mio::{Poll, Waker};
use roomcast::{Engine, EngineConfig};

pub(crate) use app_state::AppState;
pub(crate) use metrics::RuntimeStats;
pub(crate) use shutdown::ShutdownSignal;
use worker::{Worker, WorkerParts, WAKER};

/// The bound server before and while it runs.
pub(crate) struct Runtime {
    app: Arc<AppState>,
    engine: Engine,
    listener: mio::net::TcpListener,
    acceptor_poll: Poll,
    local_addr: SocketAddr,
    workers: Vec<WorkerParts>,
    senders: worker::Peers,
    signal: ShutdownSignal,
    stats: Arc<RuntimeStats>,
    metrics: Arc<metrics::Metrics>,
    cluster: Option<crate::cluster::Cluster>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("local_addr", &self.local_addr)
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

/// Binds the listening socket with `SO_REUSEADDR` and an explicit accept
/// backlog (mio's `bind` uses 1024; the kernel caps it at `somaxconn`).
fn bind_listener(
    addr: std::net::SocketAddr,
    backlog: u32,
) -> std::io::Result<mio::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

impl Runtime {
    pub(crate) fn new(mut app: AppState) -> std::io::Result<Runtime> {
        let n = app.config.workers.max(1);
        let (engine, shards) = Engine::new(EngineConfig {
            shards: n,
            node: app.config.node,
            outbound_limit: app.config.outbound_limit,
            max_rooms_per_socket: app.config.max_rooms_per_socket,
            max_room_name_len: app.config.max_room_name_len,
            // Node peers of a mixed cluster expect socket.io's 20 characters.
            short_ids: app.config.cluster_compat.is_some(),
            ..EngineConfig::default()
        });
        let listener = bind_listener(app.config.addr, app.config.backlog)?;
        let local_addr = listener.local_addr()?;
        let acceptor_poll = Poll::new()?;
        let acceptor_waker = Arc::new(Waker::new(acceptor_poll.registry(), WAKER)?);
        let mut workers = Vec::with_capacity(n);
        let mut senders = Vec::with_capacity(n);
        let mut wakers = vec![acceptor_waker];
        for shard in shards {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            let w = Arc::clone(&waker);
            shard.set_waker(move || {
                let _ = w.wake();
            });
            let (tx, rx) = crossbeam_channel::unbounded();
            senders.push((tx, Arc::clone(&waker)));
            wakers.push(Arc::clone(&waker));
            workers.push(WorkerParts {
                poll,
                waker,
                shard,
                incoming: rx,
            });
        }
        let mut metrics = metrics::Metrics::new(n);
        let cluster = match app.config.redis.clone() {
            None => None,
            Some(redis) => {
                let c = &app.config;
                let cluster_metrics = crate::cluster::metrics::ClusterMetrics::default();
                metrics.register_cluster(&cluster_metrics);
                let config = crate::cluster::ClusterConfig {
                    redis,
                    prefix: c.cluster_prefix.clone(),
                    buffer: c.cluster_buffer,
                    timeout_ms: c.cluster_timeout_ms,
                    // Room lists and payloads are bounded by these on every node.
                    max_message: (2 * c.max_payload.max(c.max_http_body) + (64 << 10)).max(4 << 20),
                    compat: c.cluster_compat.map(|mode| crate::cluster::CompatConfig {
                        key: c.cluster_compat_key.clone(),
                        sails: mode == crate::config::ClusterCompat::Sails,
                    }),
                };
                let cluster =
                    crate::cluster::Cluster::start(&engine, &c.node_name, config, cluster_metrics)
                        .map_err(std::io::Error::other)?;
                app.cluster = Some(cluster.view());
                Some(cluster)
            }
        };
        Ok(Runtime {
            app: Arc::new(app),
            engine,
            listener,
            acceptor_poll,
            local_addr,
            workers,
            senders: Arc::new(senders),
            signal: ShutdownSignal::new(wakers),
            stats: Arc::new(RuntimeStats::default()),
            metrics: Arc::new(metrics),
            cluster,
        })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub(crate) fn engine(&self) -> Engine {
        self.engine.clone()
    }

    pub(crate) fn stats(&self) -> Arc<RuntimeStats> {
        Arc::clone(&self.stats)
    }

    pub(crate) fn shutdown_signal(&self) -> ShutdownSignal {
        self.signal.clone()
    }

    pub(crate) fn run(self) -> std::io::Result<()> {
        let Runtime {
            app,
            engine,
            listener,
            acceptor_poll,
            local_addr,
            workers,
            senders,
            signal,
            stats,
            metrics,
            mut cluster,
        } = self;
        tracing::info!(
            "roomcast listening on {local_addr} ({} worker{}, node {}); clients connect to http://{local_addr}/socket.io/ (long-polling or WebSocket)",
            workers.len(),
            if workers.len() == 1 { "" } else { "s" },
            app.config.node_name,
        );
        let mut handles = Vec::with_capacity(workers.len() + 1);
        for (index, parts) in workers.into_iter().enumerate() {
            let worker = Worker::new(
                index,
                parts,
                engine.clone(),
                Arc::clone(&app),
                Arc::clone(&metrics),
                Arc::clone(&stats),
                Arc::clone(&senders),
            );
            let signal = signal.clone();
            let h = std::thread::Builder::new()
                .name(format!("roomcast-worker-{index}"))
                .spawn(move || {
                    let r = worker.run(&signal);
                    if r.is_err() {
                        signal.trigger();
                    }
                    r
                })?;
            handles.push(h);
        }
        let acc_signal = signal.clone();
        let acc_stats = Arc::clone(&stats);
        let acc = std::thread::Builder::new()
            .name("roomcast-acceptor".into())
            .spawn(move || {
                let r = acceptor::run(listener, acceptor_poll, &senders, &acc_signal, &acc_stats);
                if r.is_err() {
                    acc_signal.trigger();
                }
                r
            })?;
        handles.push(acc);
        let mut result = Ok(());
        for h in handles {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!("server thread failed: {e}");
                    signal.trigger();
                    result = Err(e);
                }
                Err(_) => {
                    tracing::error!("server thread panicked");
                    signal.trigger();
                    result = Err(std::io::Error::other("a server thread panicked"));
                }
            }
        }
        if let Some(c) = cluster.as_mut() {
            c.stop();
        }
        tracing::info!(
            accepted = stats.accepted.load(Ordering::Relaxed),
            upgraded = stats.upgraded.load(Ordering::Relaxed),
            rejected = stats.rejected.load(Ordering::Relaxed),
            slow_consumers = stats.slow_consumers.load(Ordering::Relaxed),
            "roomcast stopped"
        );
        result
    }
}
