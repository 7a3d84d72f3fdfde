//! The application API: run the roomcast server in-process, with your own actions,
//! namespaces, connection checks and event handlers.
//!
//! [`ServerBuilder`] starts from a [`ServerConfig`] and the built-in routes
//! (ROUTES.md); [`ServerBuilder::build`] binds the listening socket and returns a
//! [`Server`], whose [`Server::run`] blocks until a [`ShutdownHandle`] (or, in the
//! binary, SIGINT/SIGTERM) stops it.
//!
//! * [`ServerBuilder::route`]: an action for a virtual request (`io.socket.post('/chat/say', …)`);
//!   it replaces a built-in route with the same method and pattern. Actions run on
//!   the worker thread that owns the requesting socket, with that worker's
//!   [`Shard`] in the [`Context`]: what they broadcast reaches the
//!   requester before the request's ack.
//! * [`ServerBuilder::namespace`]: accept CONNECTs to another namespace. A CONNECT
//!   to a namespace nobody registered gets CONNECT_ERROR `"Invalid namespace"`.
//! * [`ServerBuilder::on_connect`]: see a CONNECT's auth payload and refuse it with
//!   `(message, data)` (Sails' `beforeConnect`), or emit to the new socket.
//! * [`ServerBuilder::on_event`]: handle a custom event, emit back, answer its ack.
//!
//! Handlers are plain `Fn`s shared by every worker thread (`Send + Sync`), called on
//! the thread that owns the connection; they must not block.
//!
//! # Example
//!
//! ```no_run
//! use roomcast_server::app::{Method, Response, ServerBuilder};
//! use roomcast_server::config::ServerConfig;
//!
//! let server = ServerBuilder::new(ServerConfig::default())
//!     .route(Method::Post, "/chat/say", |ctx, req| {
//!         let text = req.body.get("text").cloned().unwrap_or_default();
//!         let _ = ctx.shard.broadcast("chat", Some("said"), &text, None);
//!         Response::json(200, serde_json::json!({"ok": true}))
//!     })
//!     .namespace("/admin")
//!     .on_connect("/admin", |ctx| {
//!         if ctx.auth().contains("\"token\":\"secret\"") {
//!             Ok(())
//!         } else {
//!             Err(("Not authorized".into(), Some(r#"{"reason":"token"}"#.into())))
//!         }
//!     })
//!     .on_event("/", "hello", |ctx| {
//!         ctx.emit("hello-back", ctx.args().to_owned().as_str()).ok();
//!         Some(r#"["hi"]"#.to_owned()) // the ack's arguments
//!     })
//!     .build()?;
//! println!("listening on {}", server.local_addr());
//! let stop = server.shutdown_handle();
//! std::thread::spawn(move || { /* later */ stop.shutdown(); });
//! server.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use roomcast::{Engine, Shard, SocketId};

use crate::config::ServerConfig;
use crate::runtime;
use crate::session::{Session, SessionError};

pub use crate::router::{Context, Method, Policy, Request, Response, Router};

/// What an [`ServerBuilder::on_connect`] hook returns to refuse: the CONNECT_ERROR
/// message and optional raw JSON data (v5: `{"message":…,"data":…}`).
pub type Refusal = (String, Option<String>);

/// A custom event handler: gets the event, returns the ack's arguments (a raw
/// JSON array such as `["ok"]`), used only if the client asked for an ack (`None`
/// then acks with `[]`).
pub type EventHandler = Arc<dyn Fn(&mut EventContext<'_>) -> Option<String> + Send + Sync>;

/// A CONNECT hook: accept with `Ok(())` or refuse with a [`Refusal`].
pub type ConnectHook = Arc<dyn Fn(&mut ConnectContext<'_>) -> Result<(), Refusal> + Send + Sync>;

/// What an [`EventHandler`] sees: the event, the socket, the worker's shard, and a
/// way to emit to the socket.
pub struct EventContext<'a> {
    pub(crate) shard: &'a mut Shard,
    pub(crate) session: &'a mut Session,
    pub(crate) socket: SocketId,
    pub(crate) nsp: &'a str,
    pub(crate) name: &'a str,
    pub(crate) args: &'a str,
    pub(crate) attachments: &'a [Bytes],
    pub(crate) ack_attachments: Vec<Bytes>,
}

impl fmt::Debug for EventContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventContext")
            .field("socket", &self.socket)
            .field("nsp", &self.nsp)
            .field("name", &self.name)
            .field("args", &self.args)
            .finish_non_exhaustive()
    }
}

impl EventContext<'_> {
    /// The core socket id of the connection (its `/` socket id).
    #[must_use]
    pub fn socket(&self) -> SocketId {
        self.socket
    }

    /// The namespace the event arrived on.
    #[must_use]
    pub fn namespace(&self) -> &str {
        self.nsp
    }

    /// The event name.
    #[must_use]
    pub fn event(&self) -> &str {
        self.name
    }

    /// The arguments after the event name, as the raw JSON array the client sent
    /// (byte for byte: key order and number formatting kept).
    #[must_use]
    pub fn args(&self) -> &str {
        self.args
    }

    /// Binary attachments of a binary event (placeholders in [`args`](Self::args)).
    #[must_use]
    pub fn attachments(&self) -> &[Bytes] {
        self.attachments
    }

    /// The engine (cross-thread operations on any socket or room).
    #[must_use]
    pub fn engine(&self) -> &Engine {
        self.shard.engine()
    }

    /// This worker's shard: operations here apply to its own sockets at once
    /// (a broadcast reaches this socket before the handler's ack).
    pub fn shard(&mut self) -> &mut Shard {
        self.shard
    }

    /// Emits `name` with `args` (a raw JSON array) to this socket on this namespace.
    /// It is written after anything the handler broadcast and before its ack.
    ///
    /// # Errors
    ///
    /// [`SessionError`] if the name is reserved, `args` is not a JSON array, or the
    /// session is closed.
    pub fn emit(&mut self, name: &str, args: &str) -> Result<(), SessionError> {
        self.emit_binary(name, args, &[])
    }

    /// As [`emit`](Self::emit), with binary attachments referenced from `args` by
    /// `{"_placeholder":true,"num":i}` (a BINARY_EVENT).
    ///
    /// # Errors
    ///
    /// As [`emit`](Self::emit).
    pub fn emit_binary(
        &mut self,
        name: &str,
        args: &str,
        attachments: &[Bytes],
    ) -> Result<(), SessionError> {
        let nsp = self.nsp;
        self.session.emit(nsp, name, args, None, attachments)
    }

    /// Binary attachments for the ack the handler returns (a BINARY_ACK), referenced
    /// from the returned arguments by placeholders.
    pub fn set_ack_attachments(&mut self, attachments: Vec<Bytes>) {
        self.ack_attachments = attachments;
    }
}

/// What a [`ConnectHook`] sees: the namespace, the CONNECT's auth JSON and the
/// socket; emits queued here are sent right after the CONNECT is accepted.
pub struct ConnectContext<'a> {
    pub(crate) shard: &'a mut Shard,
    pub(crate) socket: SocketId,
    pub(crate) nsp: &'a str,
    pub(crate) auth: &'a str,
    pub(crate) emits: Vec<(String, String)>,
}

impl fmt::Debug for ConnectContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectContext")
            .field("socket", &self.socket)
            .field("nsp", &self.nsp)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl ConnectContext<'_> {
    /// The core socket id of the connection.
    #[must_use]
    pub fn socket(&self) -> SocketId {
        self.socket
    }

    /// The namespace requested.
    #[must_use]
    pub fn namespace(&self) -> &str {
        self.nsp
    }

    /// The auth payload as raw JSON (`{}` when the client sent none; for v2
    /// clients, the namespace query as an object).
    #[must_use]
    pub fn auth(&self) -> &str {
        self.auth
    }

    /// This worker's shard.
    pub fn shard(&mut self) -> &mut Shard {
        self.shard
    }

    /// Queues `name` with `args` (a raw JSON array) to be emitted to the socket
    /// once the CONNECT is accepted (dropped if the hook refuses).
    pub fn emit(&mut self, name: &str, args: &str) {
        self.emits.push((name.to_owned(), args.to_owned()));
    }
}

/// Builds a [`Server`]; see the [module docs](self).
pub struct ServerBuilder {
    config: ServerConfig,
    router: Router,
    namespaces: HashSet<String>,
    connect_hooks: HashMap<String, ConnectHook>,
    event_handlers: HashMap<(String, String), EventHandler>,
    engine_echo: Option<String>,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("namespaces", &self.namespaces)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// A builder with the built-in routes under `config.policy`, and namespace `/`.
    #[must_use]
    pub fn new(config: ServerConfig) -> ServerBuilder {
        let router = Router::with_builtin_routes(config.policy.clone());
        ServerBuilder {
            config,
            router,
            namespaces: HashSet::from(["/".to_owned()]),
            connect_hooks: HashMap::new(),
            event_handlers: HashMap::new(),
            engine_echo: None,
        }
    }

    /// Adds (or replaces) the action for `method` + `pattern` (`/path/:param`).
    #[must_use]
    pub fn route(
        mut self,
        method: Method,
        pattern: &str,
        action: impl Fn(&mut Context<'_>, &Request) -> Response + Send + Sync + 'static,
    ) -> ServerBuilder {
        self.router.route(method, pattern, action);
        self
    }

    /// Accepts CONNECTs to namespace `nsp` (e.g. `"/custom"`).
    #[must_use]
    pub fn namespace(mut self, nsp: &str) -> ServerBuilder {
        self.namespaces.insert(nsp.to_owned());
        self
    }

    /// Calls `hook` for every CONNECT to `nsp` (registering `nsp`).
    #[must_use]
    pub fn on_connect(
        mut self,
        nsp: &str,
        hook: impl Fn(&mut ConnectContext<'_>) -> Result<(), Refusal> + Send + Sync + 'static,
    ) -> ServerBuilder {
        self.namespaces.insert(nsp.to_owned());
        self.connect_hooks.insert(nsp.to_owned(), Arc::new(hook));
        self
    }

    /// Calls `handler` for every event `name` on `nsp` (registering `nsp`). On `/`,
    /// the virtual-request method names (`get`, `post`, …) are taken by the router.
    #[must_use]
    pub fn on_event(
        mut self,
        nsp: &str,
        name: &str,
        handler: impl Fn(&mut EventContext<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> ServerBuilder {
        self.namespaces.insert(nsp.to_owned());
        self.event_handlers
            .insert((nsp.to_owned(), name.to_owned()), Arc::new(handler));
        self
    }

    /// Also serves a bare Engine.IO echo (no Socket.IO) on `path` (e.g.
    /// `"/engine.io/"`): every message a client sends is sent back. For the
    /// Engine.IO conformance suite.
    #[must_use]
    pub fn engine_echo(mut self, path: &str) -> ServerBuilder {
        self.engine_echo = Some(path.to_owned());
        self
    }

    /// Binds the listening socket and prepares the workers (nothing runs until
    /// [`Server::run`]).
    ///
    /// # Errors
    ///
    /// The bind or poll-creation error.
    pub fn build(self) -> std::io::Result<Server> {
        if self.config.policy.is_open() {
            tracing::warn!(
                "policy is OPEN: every client may call every socket route \
                 (blast, emit, act on other sockets...) - for development and tests only"
            );
        }
        if self.config.admin_token.is_some() {
            tracing::info!("admin HTTP API enabled at /api/ (bearer token required)");
        } else {
            tracing::info!(
                "admin HTTP API is off: set ROOMCAST_ADMIN_TOKEN or admin_token to enable it"
            );
        }
        let app = runtime::App {
            router: self.router,
            admin: Router::admin_routes(),
            namespaces: self.namespaces,
            connect_hooks: self.connect_hooks,
            event_handlers: self.event_handlers,
            engine_echo: self.engine_echo,
            config: self.config,
        };
        Ok(Server {
            inner: runtime::Runtime::new(app)?,
        })
    }
}

/// A bound, ready server; [`run`](Server::run) it.
#[derive(Debug)]
pub struct Server {
    inner: runtime::Runtime,
}

impl Server {
    /// The address actually bound (useful with port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }

    /// The engine: send to sockets and rooms from any thread.
    #[must_use]
    pub fn engine(&self) -> Engine {
        self.inner.engine()
    }

    /// A handle that reads the server's counters from any thread.
    #[must_use]
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle {
            inner: self.inner.stats(),
        }
    }

    /// A handle that stops [`run`](Server::run) gracefully from any thread.
    #[must_use]
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            inner: self.inner.shutdown_signal(),
        }
    }

    /// Serves until shut down: stops accepting, closes every WebSocket with 1001,
    /// waits up to `shutdown_grace_ms` for them to go, and returns.
    ///
    /// # Errors
    ///
    /// An I/O error that stopped a worker or the acceptor.
    pub fn run(self) -> std::io::Result<()> {
        self.inner.run()
    }
}

/// Stops a running [`Server`] gracefully; cloneable and `Send`.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    inner: runtime::ShutdownSignal,
}

impl ShutdownHandle {
    /// Asks the server to shut down (idempotent; returns at once).
    pub fn shutdown(&self) {
        self.inner.trigger();
    }

    /// Whether shutdown was asked for.
    #[must_use]
    pub fn is_shutdown(&self) -> bool {
        self.inner.is_triggered()
    }
}

/// Server-wide counters (since start).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// TCP connections accepted.
    pub accepted: u64,
    /// WebSocket upgrades completed (Socket.IO and Engine.IO echo).
    pub upgraded: u64,
    /// Requests refused before an upgrade (HTTP errors, handshake timeouts).
    pub rejected: u64,
    /// Connections closed as slow consumers (outbound limit passed).
    pub slow_consumers: u64,
}

/// Reads a [`Server`]'s counters; cloneable and `Send`.
#[derive(Debug, Clone)]
pub struct StatsHandle {
    inner: Arc<runtime::RuntimeStats>,
}

impl StatsHandle {
    /// The counters now.
    #[must_use]
    pub fn snapshot(&self) -> ServerStats {
        use std::sync::atomic::Ordering::Relaxed;
        ServerStats {
            accepted: self.inner.accepted.load(Relaxed),
            upgraded: self.inner.upgraded.load(Relaxed),
            rejected: self.inner.rejected.load(Relaxed),
            slow_consumers: self.inner.slow_consumers.load(Relaxed),
        }
    }
}
