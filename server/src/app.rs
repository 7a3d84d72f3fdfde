//! The application API: run the roomcast server in-process, with your own actions,
//! namespaces, connection checks and event handlers.
//!
//! [`ServerBuilder`] starts from a [`ServerConfig`] and the built-in routes
//! (`docs/ROUTES.md`); [`ServerBuilder::build`] binds the listening socket and returns a
//! [`Server`], whose [`Server::run`] blocks until a [`ShutdownHandle`] (or, in the
//! binary, SIGINT/SIGTERM) stops it.
//!
//! * [`ServerBuilder::route`]: an action for a virtual request (`io.socket.post('/chat/say', …)`);
//!   it replaces a built-in route with the same method and pattern. Actions run on
//!   the worker thread that owns the requesting socket, with that worker's
//!   [`Shard`](roomcast::Shard) in the [`Context`]: what they broadcast reaches the
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

use roomcast::Engine;

use crate::config::ServerConfig;
use crate::runtime;

pub use crate::handler::{ConnectContext, ConnectHook, EventContext, EventHandler, Refusal};
pub use crate::router::{Context, Method, Policy, Request, Response, Router, Rules};

/// Builds a [`Server`]; see the [module docs](self).
pub struct ServerBuilder {
    config: ServerConfig,
    router: Router,
    namespaces: HashSet<String>,
    connect_hooks: HashMap<String, ConnectHook>,
    event_handlers: HashMap<(String, String), EventHandler>,
    #[cfg(feature = "engine-echo")]
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
        let router = Router::builtin(Rules {
            policy: config.policy.clone(),
            max_rooms_per_op: config.max_rooms_per_op,
            node_name: config.node_name.clone(),
        });
        ServerBuilder {
            config,
            router,
            namespaces: HashSet::from(["/".to_owned()]),
            connect_hooks: HashMap::new(),
            event_handlers: HashMap::new(),
            #[cfg(feature = "engine-echo")]
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
    /// Engine.IO conformance suite; only with the `engine-echo` feature (test
    /// support, not in the production build).
    #[cfg(feature = "engine-echo")]
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
        let access = self
            .config
            .access()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        log_access(&self.config, &access);
        let mut app = runtime::AppState::new(
            self.config,
            self.router,
            self.namespaces,
            self.connect_hooks,
            self.event_handlers,
        );
        app.set_access(access)?;

        #[cfg(feature = "engine-echo")]
        {
            app.echo_handshake =
                self.engine_echo
                    .map(|path| crate::protocol::http::HandshakeConfig {
                        path,
                        // The echo speaks WebSocket only.
                        transports: crate::protocol::http::Transports {
                            websocket: true,
                            polling: false,
                        },
                        ..crate::protocol::http::HandshakeConfig::default()
                    });
        }
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
    /// waits up to `shutdown_timeout_ms` for them to go, and returns.
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
    /// Requests handed to the worker that owns their long-polling session.
    pub handovers: u64,
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
            handovers: self.inner.handovers.load(Relaxed),
        }
    }
}

/// Says at start what guards the door, and warns when nothing does on a
/// public address.
fn log_access(config: &ServerConfig, access: &crate::access::Access) {
    match &access.tokens {
        Some(t) => tracing::info!("clients must present a JWT ({:?})", t.algorithm()),
        None => tracing::info!("no client tokens required (set --jwt-secret or --jwt-public-key)"),
    }
    if let Some(n) = access.ops_per_sec {
        tracing::info!(
            "socket routes limited to {n} calls/s per client (bursts of {})",
            2 * u64::from(n)
        );
    }
    if access.origins.is_none() && !config.addr.ip().is_loopback() {
        tracing::warn!(
            "listening on {} with no --allowed-origins: pages of any web site may connect \
             their visitors' browsers to this server",
            config.addr
        );
    }
}
