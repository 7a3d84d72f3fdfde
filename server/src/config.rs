//! Server configuration: a TOML file, `ROOMCAST_*` environment variables and
//! command-line flags, merged into one [`ServerConfig`].
//!
//! Precedence, highest first: **flag**, **environment variable**, **config file**,
//! **default**. Every flag has a file key of the same name with `_` for `-`
//! (`--ping-interval-ms` is `ping_interval_ms`) and an environment variable
//! `ROOMCAST_<NAME>` (`ROOMCAST_PING_INTERVAL_MS`). The defaults run out of the box:
//! `127.0.0.1:1337`, one worker a core, the safe [`Policy::default`].
//!
//! ```toml
//! # roomcast.toml
//! bind = "0.0.0.0"
//! port = 1337
//! workers = 4
//! ping_interval_ms = 25000
//! ping_timeout_ms = 20000
//! max_payload = 1000000
//! outbound_limit = 8388608
//! log = "info,roomcast_server=debug"
//! admin_token = "change-me"   # enables the admin HTTP API (or ROOMCAST_ADMIN_TOKEN)
//! max_http_body = 1048576     # largest admin API request body
//! backlog = 4096              # accept queue (capped by net.core.somaxconn)
//!
//! # either a preset name ...
//! # policy = "open"
//! # ... or a table of capabilities (unknown keys are an error)
//! [policy]
//! blast = true
//! ```
//!
//! `--policy default|open` on the command line replaces the file's policy
//! entirely. A file that cannot be read or parsed, an unknown key, or a value out
//! of range is a [`ConfigError`]; the binary prints it and exits with status 2.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

use roomcast::NodeId;

use crate::protocol::http::Transports;
use crate::router::Policy;

/// Sails' default port.
pub const DEFAULT_PORT: u16 = 1337;
/// Default bytes a socket may have queued and unsent before it is closed as a slow
/// consumer: 8 MiB.
pub const DEFAULT_OUTBOUND_LIMIT: usize = 8 << 20;
/// Default largest plain-HTTP (admin API) request body: 1 MiB.
pub const DEFAULT_MAX_HTTP_BODY: usize = 1 << 20;

/// Everything the server needs to start. Build it with [`ServerConfig::default`]
/// (then set fields), [`ServerConfig::from_args`] (the binary), or
/// [`Cli::into_config`].
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address and port to listen on (port 0 picks a free port).
    pub addr: SocketAddr,
    /// Worker threads (each with its own poll loop and engine shard); at least 1.
    pub workers: usize,
    /// Which built-in socket routes clients may call.
    pub policy: Policy,
    /// Milliseconds between heartbeats (Engine.IO `pingInterval`).
    pub ping_interval_ms: u64,
    /// Milliseconds to wait for a heartbeat (Engine.IO `pingTimeout`).
    pub ping_timeout_ms: u64,
    /// Milliseconds a connection may stay without joining a namespace.
    pub connect_timeout_ms: u64,
    /// Largest WebSocket message accepted, in bytes (Engine.IO `maxPayload`).
    pub max_payload: usize,
    /// Unsent bytes a socket may have queued before it is closed as a slow consumer.
    pub outbound_limit: usize,
    /// Milliseconds a new connection may take to send its HTTP request head.
    pub handshake_timeout_ms: u64,
    /// Milliseconds to wait for the peer's close frame after we sent ours.
    pub close_timeout_ms: u64,
    /// Milliseconds a graceful shutdown waits for connections to close.
    pub shutdown_timeout_ms: u64,
    /// A `tracing` filter (`RUST_LOG` syntax), used by the binary.
    pub log: Option<String>,
    /// The bearer token of the admin HTTP API (`/api/…`); `None` (or empty)
    /// turns the admin API off.
    pub admin_token: Option<String>,
    /// Largest plain-HTTP request body accepted (admin API), in bytes; larger is
    /// answered 413.
    pub max_http_body: usize,
    /// Accept-queue length asked of the kernel for the listening socket (it is
    /// capped by `net.core.somaxconn`). A burst of connects longer than the
    /// queue makes the kernel drop SYNs, and those clients retry a second later.
    pub backlog: u32,
    /// This node's name (`--node-id`; default: `node-` and 8 random
    /// characters, printed at start). Every socket id carries its hash
    /// ([`node`](Self::node)), so an id names the node that owns it.
    pub node_name: String,
    /// The node number derived from [`node_name`](Self::node_name).
    pub node: NodeId,
    /// Most rooms (or pub/sub record ids) one client request may name; more is
    /// 400. The admin API is bounded by `max_http_body` only.
    pub max_rooms_per_op: usize,
    /// Most rooms one socket may be in (its own id room not counted); a join past
    /// it is 400.
    pub max_rooms_per_socket: usize,
    /// Longest room name accepted, in bytes.
    pub max_room_name_len: usize,
    /// The Redis URL of the cluster to join (`--redis`); `None`: a lone node,
    /// with no cluster code on any path.
    pub redis: Option<String>,
    /// Prefix of the cluster's Redis channels (`--cluster-prefix`): nodes with
    /// the same Redis and prefix form one cluster.
    pub cluster_prefix: String,
    /// Bytes of cluster messages queued for Redis and not yet acknowledged,
    /// at most (`--cluster-buffer`); past it, operations for other nodes are
    /// dropped and counted.
    pub cluster_buffer: usize,
    /// Milliseconds to wait for another node's answer (queries, confirmations).
    pub cluster_timeout_ms: u64,
    /// The Engine.IO transports clients may use (`--transports`; both by
    /// default: socket.io clients start with long-polling).
    pub transports: Transports,
    /// Origins whose browsers may read long-polling answers (CORS,
    /// `--cors-origins`); `None`: the allowed origins if set, else any origin
    /// (the request's is reflected).
    pub cors_origins: Option<Vec<String>>,
    /// HS256 secret every client's token must be signed with (`--jwt-secret`).
    pub jwt_secret: Option<String>,
    /// PEM public key (RSA: RS256, EC P-256: ES256) every client's token must be
    /// signed with (`--jwt-public-key`).
    pub jwt_public_key: Option<PathBuf>,
    /// Seconds of clock slack for a token's `exp` and `nbf`.
    pub jwt_leeway_s: u64,
    /// The only web origins whose pages may connect (`--allowed-origins`);
    /// `None`: any. Requests without `Origin` (not browsers) are allowed.
    pub allowed_origins: Option<Vec<String>>,
    /// Socket-route calls a client may make per second, with bursts of twice
    /// as many (`--client-ops-per-sec`); `None`: unlimited.
    pub client_ops_per_sec: Option<u32>,
    /// Speak a Node cluster's format too, so roomcast nodes join a running
    /// socket.io cluster (`--cluster-compat socketio`); needs `redis`.
    pub cluster_compat: Option<ClusterCompat>,
    /// The Node adapter's key (`--cluster-compat-key`, its `key` option).
    pub cluster_compat_key: String,
    /// Reverse proxies whose `X-Forwarded-For` names the client
    /// (`--trusted-proxies`); empty: the TCP peer is the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// URL the server POSTs each connect to for a decision
    /// (`--connect-webhook`); `None`: no webhook.
    pub connect_webhook: Option<String>,
    /// Milliseconds a connect webhook call may take; past it the connect is
    /// refused.
    pub connect_webhook_timeout_ms: u64,
}

/// The Node cluster format a node speaks beside its own (`--cluster-compat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterCompat {
    /// @socket.io/redis-adapter 8 (classic pub/sub) and @socket.io/redis-emitter.
    SocketIo,
    /// @sailshq/socket.io-redis 6.1 (sails-hook-sockets 3) and the Sails admin bus.
    Sails,
}

impl ClusterCompat {
    fn parse(s: &str) -> Result<ClusterCompat, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "socketio" | "socket.io" => Ok(ClusterCompat::SocketIo),
            "sails" => Ok(ClusterCompat::Sails),
            other => Err(ConfigError::Invalid(format!(
                "unknown cluster_compat {other:?} (expected \"socketio\" or \"sails\")"
            ))),
        }
    }

    /// Its name in the configuration.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ClusterCompat::SocketIo => "socketio",
            ClusterCompat::Sails => "sails",
        }
    }
}

/// A fresh random node name: `node-` and 8 characters of `[a-z0-9]`.
#[must_use]
pub fn random_node_name() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..8)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("node-{tail}")
}

/// Default accept backlog: 4096 (Linux's default `somaxconn` since 5.4).
pub const DEFAULT_BACKLOG: u32 = 4096;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
            workers: default_workers(),
            policy: Policy::default(),
            ping_interval_ms: 25_000,
            ping_timeout_ms: 20_000,
            connect_timeout_ms: 45_000,
            max_payload: 1_000_000,
            outbound_limit: DEFAULT_OUTBOUND_LIMIT,
            handshake_timeout_ms: 10_000,
            close_timeout_ms: 2_000,
            shutdown_timeout_ms: 5_000,
            log: None,
            admin_token: None,
            max_http_body: DEFAULT_MAX_HTTP_BODY,
            backlog: DEFAULT_BACKLOG,
            node_name: String::new(),
            node: NodeId::LOCAL,
            max_rooms_per_op: crate::router::DEFAULT_MAX_ROOMS_PER_OP,
            max_rooms_per_socket: 10_000,
            max_room_name_len: 256,
            redis: None,
            cluster_prefix: crate::cluster::DEFAULT_PREFIX.to_owned(),
            cluster_buffer: crate::cluster::DEFAULT_BUFFER,
            cluster_timeout_ms: crate::cluster::DEFAULT_TIMEOUT_MS,
            transports: Transports::default(),
            cors_origins: None,
            jwt_secret: None,
            jwt_public_key: None,
            jwt_leeway_s: 0,
            allowed_origins: None,
            client_ops_per_sec: None,
            connect_webhook: None,
            connect_webhook_timeout_ms: 2_000,
            cluster_compat: None,
            cluster_compat_key: crate::cluster::DEFAULT_COMPAT_KEY.to_owned(),
            trusted_proxies: Vec::new(),
        }
        .with_node_name(&random_node_name())
        .expect("random node names are valid")
    }
}

impl ServerConfig {
    /// This config with node name `name` (and the node number derived from it).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for a name that is not 1 to 64 characters of
    /// `[A-Za-z0-9._-]`.
    pub fn with_node_name(mut self, name: &str) -> Result<ServerConfig, ConfigError> {
        self.node = NodeId::from_name(name).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        self.node_name = name.to_owned();
        Ok(self)
    }

    /// A config for tests: `127.0.0.1:0` (a free port), one worker, the rest default.
    #[must_use]
    pub fn local_ephemeral() -> ServerConfig {
        ServerConfig {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            workers: 1,
            ..ServerConfig::default()
        }
    }

    /// The effective configuration as a config file (every key, secrets
    /// masked): what `roomcast --print-config` prints. Feeding it back (with
    /// real secrets) gives the same configuration.
    #[must_use]
    pub fn to_toml(&self) -> String {
        use toml::Value;
        const MASK: &str = "********";
        let int = |n: u64| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX));
        let list = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
        let mut t = toml::Table::new();
        t.insert("bind".into(), Value::String(self.addr.ip().to_string()));
        t.insert("port".into(), int(u64::from(self.addr.port())));
        t.insert("workers".into(), int(self.workers as u64));
        t.insert("node_id".into(), Value::String(self.node_name.clone()));
        t.insert("ping_interval_ms".into(), int(self.ping_interval_ms));
        t.insert("ping_timeout_ms".into(), int(self.ping_timeout_ms));
        t.insert("connect_timeout_ms".into(), int(self.connect_timeout_ms));
        t.insert("max_payload".into(), int(self.max_payload as u64));
        t.insert("outbound_limit".into(), int(self.outbound_limit as u64));
        t.insert(
            "handshake_timeout_ms".into(),
            int(self.handshake_timeout_ms),
        );
        t.insert("close_timeout_ms".into(), int(self.close_timeout_ms));
        t.insert("shutdown_timeout_ms".into(), int(self.shutdown_timeout_ms));
        if let Some(log) = &self.log {
            t.insert("log".into(), Value::String(log.clone()));
        }
        if self.admin_token.is_some() {
            t.insert("admin_token".into(), Value::String(MASK.into()));
        }
        t.insert("max_http_body".into(), int(self.max_http_body as u64));
        t.insert("backlog".into(), int(u64::from(self.backlog)));
        t.insert("max_rooms_per_op".into(), int(self.max_rooms_per_op as u64));
        t.insert(
            "max_rooms_per_socket".into(),
            int(self.max_rooms_per_socket as u64),
        );
        t.insert(
            "max_room_name_len".into(),
            int(self.max_room_name_len as u64),
        );
        if let Some(redis) = &self.redis {
            t.insert("redis".into(), Value::String(mask_url_password(redis)));
        }
        t.insert(
            "cluster_prefix".into(),
            Value::String(self.cluster_prefix.clone()),
        );
        t.insert("cluster_buffer".into(), int(self.cluster_buffer as u64));
        t.insert("cluster_timeout_ms".into(), int(self.cluster_timeout_ms));
        let mut transports = Vec::new();
        if self.transports.websocket {
            transports.push("websocket".to_owned());
        }
        if self.transports.polling {
            transports.push("polling".to_owned());
        }
        t.insert("transports".into(), list(&transports));
        if let Some(o) = &self.cors_origins {
            t.insert("cors_origins".into(), list(o));
        }
        if self.jwt_secret.is_some() {
            t.insert("jwt_secret".into(), Value::String(MASK.into()));
        }
        if let Some(p) = &self.jwt_public_key {
            t.insert(
                "jwt_public_key".into(),
                Value::String(p.display().to_string()),
            );
        }
        t.insert("jwt_leeway_s".into(), int(self.jwt_leeway_s));
        if let Some(o) = &self.allowed_origins {
            t.insert("allowed_origins".into(), list(o));
        }
        if let Some(n) = self.client_ops_per_sec {
            t.insert("client_ops_per_sec".into(), int(u64::from(n)));
        }
        if let Some(url) = &self.connect_webhook {
            t.insert("connect_webhook".into(), Value::String(url.clone()));
        }
        t.insert(
            "connect_webhook_timeout_ms".into(),
            int(self.connect_webhook_timeout_ms),
        );
        if let Some(compat) = self.cluster_compat {
            t.insert("cluster_compat".into(), Value::String(compat.name().into()));
        }
        t.insert(
            "cluster_compat_key".into(),
            Value::String(self.cluster_compat_key.clone()),
        );
        let proxies: Vec<String> = self
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        t.insert("trusted_proxies".into(), list(&proxies));
        let policy =
            toml::Value::try_from(&self.policy).unwrap_or(Value::Table(toml::Table::new()));
        t.insert("policy".into(), policy);
        toml::to_string(&t).unwrap_or_default()
    }

    /// The access rules this configuration asks for (tokens, origins, rates).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for both a secret and a public key, an empty
    /// secret, or a public key file that cannot be read or is not a key.
    pub fn access(&self) -> Result<crate::access::Access, ConfigError> {
        use crate::access::{Access, AllowedOrigins, TokenVerifier};
        let leeway = self.jwt_leeway_s;
        let tokens = match (&self.jwt_secret, &self.jwt_public_key) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid(
                    "jwt_secret and jwt_public_key are exclusive: give one".into(),
                ))
            }
            (Some(secret), None) => Some(TokenVerifier::hs256(secret.as_bytes(), leeway)),
            (None, Some(path)) => Some(TokenVerifier::public_key_file(path, leeway)),
            (None, None) => None,
        }
        .transpose()
        .map_err(ConfigError::Invalid)?;
        Ok(Access {
            tokens,
            origins: self.allowed_origins.as_deref().map(AllowedOrigins::new),
            ops_per_sec: self.client_ops_per_sec,
            webhook: self.connect_webhook.is_some(),
        })
    }

    /// Parses the process's arguments and environment, reads the config file if
    /// one is named, and merges them.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an unreadable or invalid file or an invalid value.
    /// (`--help`, `--version` and malformed flags are handled by clap, which
    /// prints and exits.)
    pub fn from_args() -> Result<ServerConfig, ConfigError> {
        Cli::parse().into_config()
    }
}

/// The number of available cores (1 if unknown).
#[must_use]
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// A configuration problem; the binary exits with status 2 on it.
#[derive(Debug)]
pub enum ConfigError {
    /// The config file could not be read.
    Read(PathBuf, std::io::Error),
    /// The config file is not valid TOML or has unknown or mistyped keys.
    Parse(PathBuf, String),
    /// A value is out of range or unknown.
    Invalid(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read(p, e) => write!(f, "cannot read config file {}: {e}", p.display()),
            ConfigError::Parse(p, e) => write!(f, "invalid config file {}: {e}", p.display()),
            ConfigError::Invalid(m) => write!(f, "invalid configuration: {m}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The command line of the `roomcast` binary (every flag also reads
/// `ROOMCAST_<FLAG>` from the environment).
#[derive(Debug, Clone, Default, Parser)]
#[command(
    name = "roomcast",
    version = concat!(env!("CARGO_PKG_VERSION"), " (git ", env!("ROOMCAST_GIT_REV"), ")"),
    about = "roomcast: the sails.sockets realtime layer as a Socket.IO-compatible WebSocket server",
    long_about = "roomcast: the sails.sockets realtime layer as a Socket.IO-compatible \
WebSocket server.\n\nClients (sails.io.js 1.x, socket.io-client 2/3/4, default options: \
long-polling, then WebSocket) connect to http://ADDR:PORT/socket.io/. Precedence: flag, \
then ROOMCAST_* environment variable, then config file, then default."
)]
pub struct Cli {
    /// TOML config file; every flag below has a key of the same name (with `_`)
    #[arg(long, value_name = "FILE", env = "ROOMCAST_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration (flags, environment, file and defaults merged; secrets masked) as TOML and exit
    #[arg(long)]
    pub print_config: bool,
    /// Address or host name to listen on [default: 127.0.0.1]; 0.0.0.0 serves other machines
    #[arg(long, value_name = "ADDR", env = "ROOMCAST_BIND")]
    pub bind: Option<String>,
    /// Port to listen on [default: 1337]; 0 picks a free port
    #[arg(long, value_name = "N", env = "ROOMCAST_PORT")]
    pub port: Option<u16>,
    /// Worker threads [default: available cores]
    #[arg(long, value_name = "N", env = "ROOMCAST_WORKERS")]
    pub workers: Option<usize>,
    /// Socket-route policy: `default` (safe) or `open` (everything allowed, for development)
    #[arg(long, value_name = "default|open", env = "ROOMCAST_POLICY")]
    pub policy: Option<String>,
    /// Milliseconds between heartbeats [default: 25000]
    #[arg(long, value_name = "MS", env = "ROOMCAST_PING_INTERVAL_MS")]
    pub ping_interval_ms: Option<u64>,
    /// Milliseconds to wait for a heartbeat answer [default: 20000]
    #[arg(long, value_name = "MS", env = "ROOMCAST_PING_TIMEOUT_MS")]
    pub ping_timeout_ms: Option<u64>,
    /// Largest WebSocket message accepted, in bytes [default: 1000000]
    #[arg(long, value_name = "BYTES", env = "ROOMCAST_MAX_PAYLOAD")]
    pub max_payload: Option<usize>,
    /// Unsent bytes per socket before it is closed as a slow consumer [default: 8388608]
    #[arg(long, value_name = "BYTES", env = "ROOMCAST_OUTBOUND_LIMIT")]
    pub outbound_limit: Option<usize>,
    /// Log filter, e.g. `info` or `roomcast_server=debug` [default: info; RUST_LOG also works]
    #[arg(long, value_name = "FILTER", env = "ROOMCAST_LOG")]
    pub log: Option<String>,
    /// Milliseconds a connection may take to join a namespace (CONNECT) before it is closed [default: 45000]
    #[arg(long, value_name = "MS", env = "ROOMCAST_CONNECT_TIMEOUT_MS")]
    pub connect_timeout_ms: Option<u64>,
    /// Milliseconds a new connection (or a kept-alive one) may take to send an HTTP request head [default: 10000]
    #[arg(long, value_name = "MS", env = "ROOMCAST_HANDSHAKE_TIMEOUT_MS")]
    pub handshake_timeout_ms: Option<u64>,
    /// Milliseconds to wait for the peer's close frame after ours [default: 2000]
    #[arg(long, value_name = "MS", env = "ROOMCAST_CLOSE_TIMEOUT_MS")]
    pub close_timeout_ms: Option<u64>,
    /// Largest admin API request body, in bytes; larger is 413 [default: 1048576]
    #[arg(long, value_name = "BYTES", env = "ROOMCAST_MAX_HTTP_BODY")]
    pub max_http_body: Option<usize>,
    /// Accept-queue length asked of the kernel (capped by net.core.somaxconn) [default: 4096]
    #[arg(long, value_name = "N", env = "ROOMCAST_BACKLOG")]
    pub backlog: Option<u32>,
    /// Milliseconds a graceful shutdown (SIGINT/SIGTERM) waits for clients to go [default: 5000]
    #[arg(long, value_name = "MS", env = "ROOMCAST_SHUTDOWN_TIMEOUT_MS")]
    pub shutdown_timeout_ms: Option<u64>,
    /// Most rooms (or pub/sub ids) one client request may name [default: 1000]
    #[arg(long, value_name = "N", env = "ROOMCAST_MAX_ROOMS_PER_OP")]
    pub max_rooms_per_op: Option<usize>,
    /// Most rooms one socket may be in [default: 10000]
    #[arg(long, value_name = "N", env = "ROOMCAST_MAX_ROOMS_PER_SOCKET")]
    pub max_rooms_per_socket: Option<usize>,
    /// Longest room name accepted, in bytes [default: 256]
    #[arg(long, value_name = "BYTES", env = "ROOMCAST_MAX_ROOM_NAME_LEN")]
    pub max_room_name_len: Option<usize>,
    /// This node's name, carried by every socket id it mints [default: node- and 8 random characters]
    #[arg(long, value_name = "NAME", env = "ROOMCAST_NODE_ID")]
    pub node_id: Option<String>,
    /// Join the cluster of nodes sharing this Redis, e.g. redis://127.0.0.1:6379 [default: none, a lone node]
    #[arg(long, value_name = "URL", env = "ROOMCAST_REDIS")]
    pub redis: Option<String>,
    /// Prefix of the cluster's Redis channels [default: roomcast]
    #[arg(long, value_name = "PREFIX", env = "ROOMCAST_CLUSTER_PREFIX")]
    pub cluster_prefix: Option<String>,
    /// Bytes of cluster messages buffered while Redis is slow or down [default: 67108864]
    #[arg(long, value_name = "BYTES", env = "ROOMCAST_CLUSTER_BUFFER")]
    pub cluster_buffer: Option<usize>,
    /// Milliseconds to wait for another node's answer [default: 2000]
    #[arg(long, value_name = "MS", env = "ROOMCAST_CLUSTER_TIMEOUT_MS")]
    pub cluster_timeout_ms: Option<u64>,
    /// Engine.IO transports clients may use: websocket, polling or both [default: websocket,polling]
    #[arg(long, value_name = "LIST", env = "ROOMCAST_TRANSPORTS")]
    pub transports: Option<String>,
    /// Origins (scheme://host or scheme://host:port, comma-separated) whose browsers may read long-polling answers [default: the allowed origins, else any, reflected]
    #[arg(long, value_name = "LIST", env = "ROOMCAST_CORS_ORIGINS")]
    pub cors_origins: Option<String>,
    /// Every client must present a JWT signed with this HS256 secret [default: no tokens]
    #[arg(
        long,
        value_name = "SECRET",
        env = "ROOMCAST_JWT_SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,
    /// Every client must present a JWT signed with the key in this PEM file (RSA: RS256, EC P-256: ES256)
    #[arg(long, value_name = "FILE", env = "ROOMCAST_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
    /// Seconds of clock slack when checking a token's exp and nbf [default: 0]
    #[arg(long, value_name = "S", env = "ROOMCAST_JWT_LEEWAY_S")]
    pub jwt_leeway_s: Option<u64>,
    /// Only pages of these origins (scheme://host or scheme://host:port, comma-separated) may connect; requests without Origin are allowed [default: any]
    #[arg(long, value_name = "LIST", env = "ROOMCAST_ALLOWED_ORIGINS")]
    pub allowed_origins: Option<String>,
    /// Socket-route calls a client may make per second (bursts of twice as many); beyond: 429 [default: unlimited]
    #[arg(long, value_name = "N", env = "ROOMCAST_CLIENT_OPS_PER_SEC")]
    pub client_ops_per_sec: Option<u32>,
    /// Also speak a Node cluster's format, to join a running cluster: `socketio` (@socket.io/redis-adapter 8) or `sails` (@sailshq/socket.io-redis 6.1 and the Sails admin bus) [default: none]
    #[arg(long, value_name = "socketio", env = "ROOMCAST_CLUSTER_COMPAT")]
    pub cluster_compat: Option<String>,
    /// The Node adapter's key (its `key` option) [default: socket.io]
    #[arg(long, value_name = "KEY", env = "ROOMCAST_CLUSTER_COMPAT_KEY")]
    pub cluster_compat_key: Option<String>,
    /// Reverse proxies (IP addresses, comma-separated) whose X-Forwarded-For names the client, e.g. 127.0.0.1 for a local nginx [default: none]
    #[arg(long, value_name = "LIST", env = "ROOMCAST_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// POST each connect to this URL; a 2xx {"allow": true, "rooms": [...], "data": {...}} admits it [default: none]
    #[arg(long, value_name = "URL", env = "ROOMCAST_CONNECT_WEBHOOK")]
    pub connect_webhook: Option<String>,
    /// Milliseconds a connect webhook call may take before the connect is refused [default: 2000]
    #[arg(long, value_name = "MS", env = "ROOMCAST_CONNECT_WEBHOOK_TIMEOUT_MS")]
    pub connect_webhook_timeout_ms: Option<u64>,
    /// Bearer token that enables the admin HTTP API (`/api/…`); without one the API is off
    #[arg(
        long,
        value_name = "TOKEN",
        env = "ROOMCAST_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
}

/// The `policy` key of a config file: a preset name or a capability table.
#[derive(Debug, Clone)]
enum PolicySetting {
    Named(String),
    Table(Policy),
}

impl<'de> Deserialize<'de> for PolicySetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match toml::Value::deserialize(d)? {
            toml::Value::String(name) => Ok(PolicySetting::Named(name)),
            table @ toml::Value::Table(_) => Policy::deserialize(table)
                .map(PolicySetting::Table)
                .map_err(|e| D::Error::custom(format!("in [policy]: {e}"))),
            other => Err(D::Error::custom(format!(
                "policy must be \"default\", \"open\" or a [policy] table, not a {}",
                other.type_str()
            ))),
        }
    }
}

/// The config file's keys (all optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<String>,
    port: Option<u16>,
    workers: Option<usize>,
    policy: Option<PolicySetting>,
    ping_interval_ms: Option<u64>,
    ping_timeout_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
    max_payload: Option<usize>,
    outbound_limit: Option<usize>,
    handshake_timeout_ms: Option<u64>,
    close_timeout_ms: Option<u64>,
    shutdown_timeout_ms: Option<u64>,
    log: Option<String>,
    admin_token: Option<String>,
    max_http_body: Option<usize>,
    backlog: Option<u32>,
    node_id: Option<String>,
    max_rooms_per_op: Option<usize>,
    max_rooms_per_socket: Option<usize>,
    max_room_name_len: Option<usize>,
    redis: Option<String>,
    cluster_prefix: Option<String>,
    cluster_buffer: Option<usize>,
    cluster_timeout_ms: Option<u64>,
    transports: Option<ListSetting>,
    cors_origins: Option<ListSetting>,
    jwt_secret: Option<String>,
    jwt_public_key: Option<PathBuf>,
    jwt_leeway_s: Option<u64>,
    allowed_origins: Option<ListSetting>,
    client_ops_per_sec: Option<u32>,
    connect_webhook: Option<String>,
    connect_webhook_timeout_ms: Option<u64>,
    cluster_compat: Option<String>,
    cluster_compat_key: Option<String>,
    trusted_proxies: Option<ListSetting>,
}

/// A list in the config file: an array of strings, or one comma-separated string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ListSetting {
    One(String),
    Many(Vec<String>),
}

impl ListSetting {
    fn items(self) -> Vec<String> {
        match self {
            ListSetting::One(s) => split_list(&s),
            ListSetting::Many(v) => v.into_iter().map(|s| s.trim().to_owned()).collect(),
        }
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_transports(items: &[String]) -> Result<Transports, ConfigError> {
    let mut t = Transports {
        websocket: false,
        polling: false,
    };
    for item in items {
        match item.to_ascii_lowercase().as_str() {
            "websocket" => t.websocket = true,
            "polling" => t.polling = true,
            other => {
                return Err(ConfigError::Invalid(format!(
                    "unknown transport {other:?} (expected websocket, polling)"
                )))
            }
        }
    }
    if !t.websocket && !t.polling {
        return Err(ConfigError::Invalid(
            "transports must name websocket, polling or both".into(),
        ));
    }
    Ok(t)
}

/// The address `--bind` names: an IP address, or a host name resolved once at
/// start (the first IPv4 address it has, else the first; `localhost` is
/// 127.0.0.1).
fn resolve_bind(host: &str) -> Result<IpAddr, ConfigError> {
    use std::net::ToSocketAddrs;
    let host = host.trim();
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(ip);
    }
    if host.is_empty() {
        return Err(ConfigError::Invalid("bind: empty address".into()));
    }
    let addrs: Vec<SocketAddr> = (host, 0)
        .to_socket_addrs()
        .map_err(|e| ConfigError::Invalid(format!("bind: cannot resolve {host:?}: {e}")))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(SocketAddr::ip)
        .ok_or_else(|| ConfigError::Invalid(format!("bind: {host:?} has no address")))
}

/// `redis://user:secret@host` → `redis://user:********@host`.
fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((auth, host)) if auth.contains(':') => {
            let user = auth.split_once(':').map_or("", |(u, _)| u);
            format!("{scheme}://{user}:********@{host}")
        }
        _ => url.to_owned(),
    }
}

fn named_policy(name: &str) -> Result<Policy, ConfigError> {
    Policy::from_name(name).ok_or_else(|| {
        ConfigError::Invalid(format!(
            "unknown policy {name:?} (expected \"default\" or \"open\", or a [policy] table)"
        ))
    })
}

fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_owned(), e))?;
    parse_file(&text).map_err(|e| match e {
        ConfigError::Parse(_, m) => ConfigError::Parse(path.to_owned(), m),
        other => other,
    })
}

fn parse_file(text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse(PathBuf::new(), e.to_string()))
}

impl Cli {
    /// Merges these flags over the config file they name (if any) and the defaults.
    ///
    /// # Errors
    ///
    /// [`ConfigError`].
    pub fn into_config(self) -> Result<ServerConfig, ConfigError> {
        let file = match &self.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        merge(self, file)
    }

    /// As [`Cli::into_config`] with the config file's text given directly (for tests).
    ///
    /// # Errors
    ///
    /// [`ConfigError`].
    pub fn into_config_with_file_text(self, toml_text: &str) -> Result<ServerConfig, ConfigError> {
        merge(self, parse_file(toml_text)?)
    }
}

fn merge(cli: Cli, file: FileConfig) -> Result<ServerConfig, ConfigError> {
    let d = ServerConfig::default();
    let bind = match cli.bind.or(file.bind) {
        Some(host) => resolve_bind(&host)?,
        None => d.addr.ip(),
    };
    let port = cli.port.or(file.port).unwrap_or(DEFAULT_PORT);
    let policy = match (cli.policy, file.policy) {
        (Some(name), _) => named_policy(&name)?,
        (None, Some(PolicySetting::Named(name))) => named_policy(&name)?,
        (None, Some(PolicySetting::Table(p))) => p,
        (None, None) => Policy::default(),
    };
    let config = ServerConfig {
        addr: SocketAddr::new(bind, port),
        workers: cli.workers.or(file.workers).unwrap_or(d.workers),
        policy,
        ping_interval_ms: cli
            .ping_interval_ms
            .or(file.ping_interval_ms)
            .unwrap_or(d.ping_interval_ms),
        ping_timeout_ms: cli
            .ping_timeout_ms
            .or(file.ping_timeout_ms)
            .unwrap_or(d.ping_timeout_ms),
        connect_timeout_ms: cli
            .connect_timeout_ms
            .or(file.connect_timeout_ms)
            .unwrap_or(d.connect_timeout_ms),
        max_payload: cli
            .max_payload
            .or(file.max_payload)
            .unwrap_or(d.max_payload),
        outbound_limit: cli
            .outbound_limit
            .or(file.outbound_limit)
            .unwrap_or(d.outbound_limit),
        handshake_timeout_ms: cli
            .handshake_timeout_ms
            .or(file.handshake_timeout_ms)
            .unwrap_or(d.handshake_timeout_ms),
        close_timeout_ms: cli
            .close_timeout_ms
            .or(file.close_timeout_ms)
            .unwrap_or(d.close_timeout_ms),
        shutdown_timeout_ms: cli
            .shutdown_timeout_ms
            .or(file.shutdown_timeout_ms)
            .unwrap_or(d.shutdown_timeout_ms),
        log: cli.log.or(file.log),
        admin_token: cli
            .admin_token
            .or(file.admin_token)
            .filter(|t| !t.trim().is_empty()),
        max_http_body: cli
            .max_http_body
            .or(file.max_http_body)
            .unwrap_or(d.max_http_body),
        backlog: cli.backlog.or(file.backlog).unwrap_or(d.backlog),
        node_name: d.node_name.clone(),
        node: d.node,
        max_rooms_per_op: cli
            .max_rooms_per_op
            .or(file.max_rooms_per_op)
            .unwrap_or(d.max_rooms_per_op),
        max_rooms_per_socket: cli
            .max_rooms_per_socket
            .or(file.max_rooms_per_socket)
            .unwrap_or(d.max_rooms_per_socket),
        max_room_name_len: cli
            .max_room_name_len
            .or(file.max_room_name_len)
            .unwrap_or(d.max_room_name_len),
        redis: cli.redis.or(file.redis).filter(|u| !u.trim().is_empty()),
        cluster_prefix: cli
            .cluster_prefix
            .or(file.cluster_prefix)
            .unwrap_or(d.cluster_prefix),
        cluster_buffer: cli
            .cluster_buffer
            .or(file.cluster_buffer)
            .unwrap_or(d.cluster_buffer),
        cluster_timeout_ms: cli
            .cluster_timeout_ms
            .or(file.cluster_timeout_ms)
            .unwrap_or(d.cluster_timeout_ms),
        transports: match cli
            .transports
            .map(|s| split_list(&s))
            .or(file.transports.map(ListSetting::items))
        {
            Some(items) => parse_transports(&items)?,
            None => d.transports,
        },
        cors_origins: cli
            .cors_origins
            .map(|s| split_list(&s))
            .or(file.cors_origins.map(ListSetting::items)),
        jwt_secret: cli.jwt_secret.or(file.jwt_secret),
        jwt_public_key: cli.jwt_public_key.or(file.jwt_public_key),
        jwt_leeway_s: cli
            .jwt_leeway_s
            .or(file.jwt_leeway_s)
            .unwrap_or(d.jwt_leeway_s),
        allowed_origins: cli
            .allowed_origins
            .map(|s| split_list(&s))
            .or(file.allowed_origins.map(ListSetting::items)),
        client_ops_per_sec: cli.client_ops_per_sec.or(file.client_ops_per_sec),
        connect_webhook: cli
            .connect_webhook
            .or(file.connect_webhook)
            .filter(|u| !u.trim().is_empty()),
        connect_webhook_timeout_ms: cli
            .connect_webhook_timeout_ms
            .or(file.connect_webhook_timeout_ms)
            .unwrap_or(d.connect_webhook_timeout_ms),
        cluster_compat: cli
            .cluster_compat
            .or(file.cluster_compat)
            .filter(|s| !s.trim().is_empty())
            .map(|s| ClusterCompat::parse(&s))
            .transpose()?,
        cluster_compat_key: cli
            .cluster_compat_key
            .or(file.cluster_compat_key)
            .unwrap_or(d.cluster_compat_key),
        trusted_proxies: match cli
            .trusted_proxies
            .map(|s| split_list(&s))
            .or(file.trusted_proxies.map(ListSetting::items))
        {
            Some(items) => items
                .iter()
                .map(|a| {
                    a.parse::<IpAddr>().map_err(|_| {
                        ConfigError::Invalid(format!("trusted_proxies: {a:?} is not an IP address"))
                    })
                })
                .collect::<Result<_, _>>()?,
            None => d.trusted_proxies,
        },
    };
    let config = match cli.node_id.or(file.node_id) {
        Some(name) => config.with_node_name(&name)?,
        None => config,
    };
    validate(&config)?;
    Ok(config)
}

fn validate(c: &ServerConfig) -> Result<(), ConfigError> {
    let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
    if c.workers == 0 || c.workers > roomcast::id::MAX_SHARDS {
        return bad("workers must be between 1 and 256");
    }
    if c.ping_interval_ms == 0 || c.ping_timeout_ms == 0 {
        return bad("ping_interval_ms and ping_timeout_ms must be positive");
    }
    if c.max_payload < 16 {
        return bad("max_payload must be at least 16 bytes");
    }
    if c.backlog == 0 || c.backlog > i32::MAX as u32 {
        return bad("backlog must be between 1 and 2147483647");
    }
    if c.outbound_limit < 1024 {
        return bad("outbound_limit must be at least 1024 bytes");
    }
    if c.max_rooms_per_op == 0 || c.max_rooms_per_socket == 0 {
        return bad("max_rooms_per_op and max_rooms_per_socket must be at least 1");
    }
    if !(1..=65_536).contains(&c.max_room_name_len) {
        return bad("max_room_name_len must be between 1 and 65536");
    }
    if let Some(url) = &c.redis {
        crate::cluster::check_redis_url(url).map_err(ConfigError::Invalid)?;
    }
    let prefix_ok = (1..=64).contains(&c.cluster_prefix.len())
        && c.cluster_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if !prefix_ok {
        return bad("cluster_prefix must be 1 to 64 characters of A-Z a-z 0-9 . _ : -");
    }
    if c.cluster_buffer < 64 * 1024 {
        return bad("cluster_buffer must be at least 65536 bytes");
    }
    if !(50..=600_000).contains(&c.cluster_timeout_ms) {
        return bad("cluster_timeout_ms must be between 50 and 600000");
    }
    for (key, list) in [
        ("cors_origins", &c.cors_origins),
        ("allowed_origins", &c.allowed_origins),
    ] {
        if let Some(o) = list.iter().flatten().find(|o| {
            !(o.starts_with("http://") || o.starts_with("https://") || o.as_str() == "null")
                || o.contains(char::is_whitespace)
        }) {
            return Err(ConfigError::Invalid(format!(
                "{key}: {o:?} is not an origin (scheme://host[:port])"
            )));
        }
    }
    if c.client_ops_per_sec == Some(0) {
        return bad("client_ops_per_sec must be at least 1");
    }
    if c.jwt_leeway_s > 86_400 {
        return bad("jwt_leeway_s must be at most 86400 (a day)");
    }
    if let Some(url) = &c.connect_webhook {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!(
                "connect_webhook: {url:?} is not an http:// or https:// URL"
            )));
        }
    }
    if c.cluster_compat.is_some() && c.redis.is_none() {
        return bad("cluster_compat needs redis (the cluster to join)");
    }
    let key_ok = (1..=64).contains(&c.cluster_compat_key.len())
        && !c.cluster_compat_key.contains(['#', '*', '?', '[', ' ']);
    if !key_ok {
        return bad("cluster_compat_key must be 1 to 64 characters, without # * ? [ or spaces");
    }
    if !(10..=60_000).contains(&c.connect_webhook_timeout_ms) {
        return bad("connect_webhook_timeout_ms must be between 10 and 60000");
    }
    c.access()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("roomcast").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn defaults_run_out_of_the_box() {
        let c = Cli::default().into_config().unwrap();
        assert_eq!(c.addr, "127.0.0.1:1337".parse().unwrap());
        assert_eq!((c.ping_interval_ms, c.ping_timeout_ms), (25_000, 20_000));
        assert_eq!(c.max_payload, 1_000_000);
        assert_eq!(c.policy, Policy::default());
        assert!(c.workers >= 1);
    }

    #[test]
    fn flag_wins_over_file() {
        let file = "port = 4000\nbind = \"0.0.0.0\"\npolicy = \"open\"\nping_interval_ms = 10";
        let c = cli(&["--port", "5000"])
            .into_config_with_file_text(file)
            .unwrap();
        assert_eq!(c.addr, "0.0.0.0:5000".parse().unwrap());
        assert!(c.policy.is_open());
        assert_eq!(c.ping_interval_ms, 10);
        let c = cli(&["--policy", "default"])
            .into_config_with_file_text(file)
            .unwrap();
        assert!(!c.policy.is_open());
    }

    #[test]
    fn admin_token_from_file_or_flag_and_empty_is_off() {
        let c = Cli::default().into_config_with_file_text("").unwrap();
        assert_eq!(c.admin_token, None);
        assert_eq!(c.max_http_body, DEFAULT_MAX_HTTP_BODY);
        let file = "admin_token = \"from-file\"\nmax_http_body = 4096";
        let c = Cli::default().into_config_with_file_text(file).unwrap();
        assert_eq!(c.admin_token.as_deref(), Some("from-file"));
        assert_eq!(c.max_http_body, 4096);
        assert_eq!(c.backlog, DEFAULT_BACKLOG);
        let c = Cli::default()
            .into_config_with_file_text("backlog = 128")
            .unwrap();
        assert_eq!(c.backlog, 128);
        assert!(Cli::default()
            .into_config_with_file_text("backlog = 0")
            .is_err());
        let c = cli(&["--admin-token", "flag"])
            .into_config_with_file_text(file)
            .unwrap();
        assert_eq!(c.admin_token.as_deref(), Some("flag"));
        let c = Cli::default()
            .into_config_with_file_text("admin_token = \"  \"")
            .unwrap();
        assert_eq!(c.admin_token, None, "a blank token must not open the API");
    }

    #[test]
    fn policy_table() {
        let c = Cli::default()
            .into_config_with_file_text("[policy]\n")
            .unwrap();
        assert_eq!(c.policy, Policy::default());
        let c = Cli::default()
            .into_config_with_file_text("port = 9\n[policy]\nblast = true\n")
            .unwrap();
        assert!(c.policy.blast && !c.policy.emit);
        assert_eq!(c.addr.port(), 9);
        let e = Cli::default()
            .into_config_with_file_text("[policy]\nblats = true\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("blats"), "{e}");
    }

    #[test]
    fn cluster_settings_from_flags_and_file() {
        let c = Cli::default().into_config_with_file_text("").unwrap();
        assert_eq!(c.redis, None);
        assert_eq!(
            (
                c.cluster_prefix.as_str(),
                c.cluster_buffer,
                c.cluster_timeout_ms
            ),
            ("roomcast", 64 << 20, 2000)
        );
        let file = "redis = \"redis://10.0.0.1:6379\"\ncluster_prefix = \"app\"\n\
                    cluster_buffer = 1048576\ncluster_timeout_ms = 500\nnode_id = \"eu-1\"";
        let c = Cli::default().into_config_with_file_text(file).unwrap();
        assert_eq!(c.redis.as_deref(), Some("redis://10.0.0.1:6379"));
        assert_eq!(
            (
                c.cluster_prefix.as_str(),
                c.cluster_buffer,
                c.cluster_timeout_ms
            ),
            ("app", 1 << 20, 500)
        );
        assert_eq!(c.node_name, "eu-1");
        let c = cli(&[
            "--redis",
            "redis://:pw@127.0.0.1:7000/1",
            "--cluster-prefix",
            "x.y",
        ])
        .into_config_with_file_text(file)
        .unwrap();
        assert_eq!(c.redis.as_deref(), Some("redis://:pw@127.0.0.1:7000/1"));
        assert_eq!(c.cluster_prefix, "x.y");
        for bad in [
            "redis = \"localhost:6379\"",
            "redis = \"redis+unix:///tmp/x\"",
            "cluster_prefix = \"\"",
            "cluster_prefix = \"a b\"",
            "cluster_buffer = 1000",
            "cluster_timeout_ms = 0",
        ] {
            let e = Cli::default().into_config_with_file_text(bad);
            assert!(matches!(e, Err(ConfigError::Invalid(_))), "{bad}: {e:?}");
        }
    }

    #[test]
    fn access_settings_from_flags_and_file() {
        let c = Cli::default().into_config_with_file_text("").unwrap();
        assert!(c.access().unwrap().tokens.is_none());
        let file =
            "jwt_secret = \"s\"\njwt_leeway_s = 30\nallowed_origins = [\"https://a.example\"]\n\
                    client_ops_per_sec = 50";
        let c = Cli::default().into_config_with_file_text(file).unwrap();
        assert_eq!(c.jwt_secret.as_deref(), Some("s"));
        assert_eq!(c.jwt_leeway_s, 30);
        assert_eq!(c.client_ops_per_sec, Some(50));
        let a = c.access().unwrap();
        assert!(a.tokens.is_some());
        assert!(a.origins.unwrap().allows(Some(b"https://a.example")));
        let c = cli(&[
            "--allowed-origins",
            "https://b.example, http://localhost:3000",
        ])
        .into_config_with_file_text(file)
        .unwrap();
        assert_eq!(
            c.allowed_origins.unwrap(),
            ["https://b.example", "http://localhost:3000"]
        );
        for bad in [
            "jwt_secret = \"\"",
            "jwt_secret = \"s\"\njwt_public_key = \"/k.pem\"",
            "jwt_public_key = \"/nonexistent.pem\"",
            "allowed_origins = [\"example.com\"]",
            "client_ops_per_sec = 0",
            "jwt_leeway_s = 999999",
        ] {
            let e = Cli::default().into_config_with_file_text(bad);
            assert!(matches!(e, Err(ConfigError::Invalid(_))), "{bad}: {e:?}");
        }
    }

    /// The keys serde knows for `T`: from the error naming them all.
    fn known_keys<T: serde::de::DeserializeOwned + fmt::Debug>(probe: &str) -> Vec<String> {
        let e = toml::from_str::<T>(probe).unwrap_err().to_string();
        let list = e.split("expected one of").nth(1).expect(&e);
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_example_file_lists_every_key_and_parses() {
        let example = include_str!("../../roomcast.example.toml");
        let keys = known_keys::<FileConfig>("zz_not_a_key = 1");
        assert!(keys.len() > 30, "{keys:?}");
        let policy_keys = known_keys::<Policy>("zz_not_a_key = true");
        let has = |key: &str| {
            example.lines().any(|l| {
                let l = l.trim_start_matches('#').trim_start();
                l.strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            })
        };
        for key in keys.iter().filter(|k| *k != "policy") {
            assert!(has(key), "roomcast.example.toml lacks `{key}`");
        }
        for key in &policy_keys {
            assert!(has(key), "roomcast.example.toml lacks [policy] `{key}`");
        }
        assert!(example.contains("# policy = \"default\""));
        // Uncommented, every setting is valid: a file setting them all (but
        // the preset `policy` beside the [policy] table, and the key file
        // beside the secret, which exclude each other).
        let is_setting = |l: &&str| {
            l.starts_with('[')
                || l.split_once(" = ")
                    .is_some_and(|(k, _)| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        };
        let uncommented: String = example
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(is_setting)
            .filter(|l| !l.starts_with("policy =") && !l.starts_with("jwt_public_key"))
            .collect::<Vec<_>>()
            .join("\n");
        let c = Cli::default()
            .into_config_with_file_text(&uncommented)
            .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        assert_eq!(c.addr.port(), 1337);
        assert_eq!(c.client_ops_per_sec, Some(50));
    }

    #[test]
    fn print_config_round_trips_with_secrets_masked() {
        let file = "port = 4000\nadmin_token = \"sekret\"\njwt_secret = \"jwt-sekret\"\n\
                    redis = \"redis://u:pw@127.0.0.1:6379\"\nallowed_origins = [\"https://a.example\"]\n\
                    [policy]\nblast = true";
        let c = Cli::default().into_config_with_file_text(file).unwrap();
        let printed = c.to_toml();
        assert!(
            !printed.contains("sekret") && !printed.contains(":pw@"),
            "{printed}"
        );
        assert!(
            printed.contains("redis = \"redis://u:********@127.0.0.1:6379\""),
            "{printed}"
        );
        // Every key printed is a key the file takes, and feeding it back (real
        // secrets restored) gives the same configuration.
        let restored = printed
            .replace("admin_token = \"********\"", "admin_token = \"sekret\"")
            .replace("jwt_secret = \"********\"", "jwt_secret = \"jwt-sekret\"")
            .replace("u:********@", "u:pw@");
        let again = Cli::default()
            .into_config_with_file_text(&restored)
            .unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn cluster_compat_needs_redis_and_knows_socketio_and_sails() {
        let c = cli(&[
            "--redis",
            "redis://127.0.0.1:6379",
            "--cluster-compat",
            "socketio",
        ])
        .into_config()
        .unwrap();
        assert_eq!(c.cluster_compat, Some(ClusterCompat::SocketIo));
        assert_eq!(c.cluster_compat_key, "socket.io");
        let c = cli(&["--redis", "redis://h:1", "--cluster-compat", "Sails"])
            .into_config()
            .unwrap();
        assert_eq!(c.cluster_compat, Some(ClusterCompat::Sails));
        for (args, want) in [
            (&["--cluster-compat", "socketio"][..], "needs redis"),
            (&["--cluster-compat", "sails"][..], "needs redis"),
            (
                &["--redis", "redis://h:1", "--cluster-compat", "nats"][..],
                "unknown cluster_compat",
            ),
            (
                &["--redis", "redis://h:1", "--cluster-compat-key", "a#b"][..],
                "cluster_compat_key",
            ),
        ] {
            let e = cli(args).into_config().unwrap_err().to_string();
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn bind_takes_host_names() {
        let c = cli(&["--bind", "localhost"]).into_config().unwrap();
        assert_eq!(c.addr.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        let c = cli(&["--bind", "::1"]).into_config().unwrap();
        assert_eq!(c.addr.ip().to_string(), "::1");
        let e = cli(&["--bind", "no-such-host.invalid"])
            .into_config()
            .unwrap_err();
        assert!(e.to_string().contains("bind: cannot resolve"), "{e}");
    }

    #[test]
    fn bad_files_are_errors() {
        for text in [
            "port = \"x\"",
            "nope = 1",
            "[[",
            "policy = \"wide-open\"",
            "policy = 3",
            "workers = 0",
        ] {
            assert!(
                Cli::default().into_config_with_file_text(text).is_err(),
                "{text}"
            );
        }
        assert!(matches!(
            cli(&["--config", "/nonexistent/roomcast.toml"]).into_config(),
            Err(ConfigError::Read(..))
        ));
    }
}
