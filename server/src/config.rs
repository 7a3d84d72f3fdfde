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
//! backlog = 4096              # accept queue (file only; capped by net.core.somaxconn)
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

use crate::app::Policy;

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
    pub shutdown_grace_ms: u64,
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
            shutdown_grace_ms: 2_000,
            log: None,
            admin_token: None,
            max_http_body: DEFAULT_MAX_HTTP_BODY,
            backlog: DEFAULT_BACKLOG,
        }
    }
}

impl ServerConfig {
    /// A config for tests: `127.0.0.1:0` (a free port), one worker, the rest default.
    #[must_use]
    pub fn local_ephemeral() -> ServerConfig {
        ServerConfig {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            workers: 1,
            ..ServerConfig::default()
        }
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
    version,
    about = "roomcast: the sails.sockets realtime layer as a Socket.IO-compatible WebSocket server",
    long_about = "roomcast: the sails.sockets realtime layer as a Socket.IO-compatible \
WebSocket server.\n\nClients (sails.io.js 1.x, socket.io-client 2/3/4 with \
transports: [\"websocket\"]) connect to ws://ADDR:PORT/socket.io/. Precedence: flag, \
then ROOMCAST_* environment variable, then config file, then default."
)]
pub struct Cli {
    /// TOML config file; every flag below has a key of the same name (with `_`)
    #[arg(long, value_name = "FILE", env = "ROOMCAST_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1]; 0.0.0.0 serves other machines
    #[arg(long, value_name = "ADDR", env = "ROOMCAST_BIND")]
    pub bind: Option<IpAddr>,
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
    bind: Option<IpAddr>,
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
    shutdown_grace_ms: Option<u64>,
    log: Option<String>,
    admin_token: Option<String>,
    max_http_body: Option<usize>,
    backlog: Option<u32>,
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
    let bind = cli.bind.or(file.bind).unwrap_or(d.addr.ip());
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
        connect_timeout_ms: file.connect_timeout_ms.unwrap_or(d.connect_timeout_ms),
        max_payload: cli
            .max_payload
            .or(file.max_payload)
            .unwrap_or(d.max_payload),
        outbound_limit: cli
            .outbound_limit
            .or(file.outbound_limit)
            .unwrap_or(d.outbound_limit),
        handshake_timeout_ms: file.handshake_timeout_ms.unwrap_or(d.handshake_timeout_ms),
        close_timeout_ms: file.close_timeout_ms.unwrap_or(d.close_timeout_ms),
        shutdown_grace_ms: file.shutdown_grace_ms.unwrap_or(d.shutdown_grace_ms),
        log: cli.log.or(file.log),
        admin_token: cli
            .admin_token
            .or(file.admin_token)
            .filter(|t| !t.trim().is_empty()),
        max_http_body: file.max_http_body.unwrap_or(d.max_http_body),
        backlog: file.backlog.unwrap_or(d.backlog),
    };
    validate(&config)?;
    Ok(config)
}

fn validate(c: &ServerConfig) -> Result<(), ConfigError> {
    let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
    if c.workers == 0 || c.workers > 1024 {
        return bad("workers must be between 1 and 1024");
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
