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
//! * **Workers**: see [`worker`]. Everything a connection does happens on its
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
//! on `/` makes the socket leave every room it joined; the id stays the
//! connection's until it closes (a new `40` gets the same id back; blasts still
//! reach it meanwhile and the client ignores them, as it has no `/` socket).
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
//!   [`admin_http`]) are HTTP/1.1 keep-alive: after a response the same deadline
//!   applies to the next request, head *and* body, so a slow, idle or garbage
//!   client is closed after it without touching any WebSocket. Bodies need a
//!   `Content-Length` of at most `max_http_body` (1 MiB; else `413`; chunked
//!   bodies get `501`). A keep-alive connection reads nothing while its
//!   answer is pending, so pipelined requests are answered in order.
//! * Admin reads that need every shard (`GET /api/rooms/:room`) or another shard
//!   (`GET /api/sockets/:id`) never block a worker: the connection is *parked*,
//!   an `Engine::on_shard` closure per shard adds its part to a shared collector,
//!   and the last one sends the answer over a channel and wakes the requesting
//!   worker's `Waker`, which writes it (503 if it does not come within
//!   `handshake_timeout_ms`).
//! * WebSocket messages: at most `max_payload` bytes, else close 1009; the read
//!   buffer holds at most one read chunk plus one partial frame header (the codec
//!   consumes payload as it arrives).
//! * Heartbeats and the connect timeout come from each `Session::next_deadline`,
//!   kept in per-worker deadline FIFOs (`deadlines.rs`; lazy: an entry is checked against the
//!   connection's current deadline when it fires).
//! * After we send a close frame, the peer has `close_timeout_ms` (2 s) to answer.
//! * A connection is read at most [`worker::READS_PER_TICK`] times a tick so one
//!   busy client cannot starve the others.
//!
//! Nothing here panics on input: every bad input closes only its connection, with
//! an HTTP status or a WebSocket close code, and a `tracing` line.
//!
//! # Measured
//!
//! Release build, 2 workers on this shared 2-core machine, `--policy open`; an
//! ad-hoc Node.js client (the `ws` package, one process) holding 1000 sockets
//! in one room while one of them sends 2000 `POST /sockets/broadcast` requests
//! of a 64-byte payload, 32 outstanding: 2 000 000 deliveries in 2.75 s
//! (≈ 730 k/s; the single Node process receiving them is the bottleneck), with
//! the server using 0.12 s user + 1.03 s system CPU in all (≈ 0.6 µs a delivery,
//! nearly all of it in `writev`) and a peak RSS of 6.8 MB. A `GET /sockets/id`
//! round trip on the idle server: p50 ≈ 35 µs, p99 ≈ 0.2 ms.
//!
//! # Shutdown
//!
//! [`ShutdownSignal::trigger`] sets a flag and wakes every thread: the acceptor
//! drops the listener, each worker sends close 1001 `"server shutting down"` on
//! every WebSocket, drops connections still in their handshake, and keeps running
//! until its connections are gone or `shutdown_grace_ms` passes.

mod acceptor;
mod admin_http;
mod deadlines;
mod engine_echo;
mod metrics;
pub(crate) mod worker;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use mio::{Poll, Waker};
use roomcast::{Engine, EngineConfig, Shard};

use crate::app::{ConnectHook, EventHandler, Router};
use crate::config::ServerConfig;

/// Token of each poll's waker.
pub(crate) const WAKER: mio::Token = mio::Token(usize::MAX);

/// Everything the workers share, read-only.
pub(crate) struct App {
    pub(crate) router: Router,
    pub(crate) admin: Router,
    pub(crate) namespaces: HashSet<String>,
    pub(crate) connect_hooks: HashMap<String, ConnectHook>,
    pub(crate) event_handlers: HashMap<(String, String), EventHandler>,
    pub(crate) engine_echo: Option<String>,
    pub(crate) config: ServerConfig,
}

/// Counters of the whole server (relaxed atomics, for logs and metrics).
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
}

/// The shared shutdown flag and every thread's waker.
#[derive(Clone)]
pub(crate) struct ShutdownSignal {
    flag: Arc<AtomicBool>,
    wakers: Arc<Vec<Arc<Waker>>>,
}

impl fmt::Debug for ShutdownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownSignal")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl ShutdownSignal {
    pub(crate) fn trigger(&self) {
        if !self.flag.swap(true, Ordering::AcqRel) {
            tracing::info!("shutdown requested");
        }
        for w in self.wakers.iter() {
            let _ = w.wake();
        }
    }

    pub(crate) fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

/// A worker not yet started: its poll, waker and shard.
struct WorkerParts {
    poll: Poll,
    waker: Arc<Waker>,
    shard: Shard,
    incoming: crossbeam_channel::Receiver<mio::net::TcpStream>,
}

/// The bound server before and while it runs.
pub(crate) struct Runtime {
    app: Arc<App>,
    engine: Engine,
    listener: mio::net::TcpListener,
    acceptor_poll: Poll,
    local_addr: SocketAddr,
    workers: Vec<WorkerParts>,
    senders: Vec<(crossbeam_channel::Sender<mio::net::TcpStream>, Arc<Waker>)>,
    signal: ShutdownSignal,
    stats: Arc<RuntimeStats>,
    metrics: Arc<metrics::Metrics>,
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
    pub(crate) fn new(app: App) -> std::io::Result<Runtime> {
        let n = app.config.workers.max(1);
        let (engine, shards) = Engine::new(EngineConfig {
            shards: n,
            outbound_limit: app.config.outbound_limit,
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
        Ok(Runtime {
            app: Arc::new(app),
            engine,
            listener,
            acceptor_poll,
            local_addr,
            workers,
            senders,
            signal: ShutdownSignal {
                flag: Arc::new(AtomicBool::new(false)),
                wakers: Arc::new(wakers),
            },
            stats: Arc::new(RuntimeStats::default()),
            metrics: Arc::new(metrics::Metrics::new(n)),
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
            engine: _engine,
            listener,
            acceptor_poll,
            local_addr,
            workers,
            senders,
            signal,
            stats,
            metrics,
        } = self;
        tracing::info!(
            "roomcast listening on {local_addr} ({} workers); clients connect to ws://{local_addr}/socket.io/",
            workers.len()
        );
        let mut handles = Vec::with_capacity(workers.len() + 1);
        for (index, parts) in workers.into_iter().enumerate() {
            let app = Arc::clone(&app);
            let signal = signal.clone();
            let stats = Arc::clone(&stats);
            let metrics = Arc::clone(&metrics);
            let h = std::thread::Builder::new()
                .name(format!("roomcast-worker-{index}"))
                .spawn(move || {
                    let r = worker::Worker::new(
                        index,
                        parts.poll,
                        parts.shard,
                        app,
                        Arc::clone(&parts.waker),
                        metrics,
                    )
                    .run(&parts.incoming, &signal, &stats);
                    if r.is_err() {
                        signal.trigger();
                    }
                    drop(parts.waker);
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
