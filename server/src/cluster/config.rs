//! [`ClusterConfig`]: how a node joins a cluster, and the Redis URL's checks.

/// Default channel prefix.
pub(crate) const DEFAULT_PREFIX: &str = "roomcast";
/// Default bound of the buffer of messages not yet acknowledged by Redis: 64 MiB.
pub(crate) const DEFAULT_BUFFER: usize = 64 << 20;
/// Default milliseconds to wait for another node's answer.
pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 2000;

/// How a node joins a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterConfig {
    /// `redis://[user:password@]host[:port][/db]`.
    pub(crate) redis: String,
    /// Channel prefix (`--cluster-prefix`).
    pub(crate) prefix: String,
    /// Bytes of messages queued for Redis and not acknowledged, at most.
    pub(crate) buffer: usize,
    /// Milliseconds to wait for another node's answer.
    pub(crate) timeout_ms: u64,
    /// Largest message read from the bus.
    pub(crate) max_message: usize,
    /// Speak a Node cluster's format too (`--cluster-compat`).
    pub(crate) compat: Option<CompatConfig>,
}

/// A mixed cluster with Node peers (`--cluster-compat socketio|sails`): room
/// broadcasts travel in @socket.io/redis-adapter 8's format on its channels,
/// so socket.io nodes (and @socket.io/redis-emitter) and roomcast nodes reach
/// each other's sockets; with Sails, room-to-room moves also travel on the
/// Sails admin bus (docs/CLUSTER.md, "Mixed clusters").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CompatConfig {
    /// The adapter's key (its `key` option; default `socket.io`).
    pub(crate) key: String,
    /// A Sails cluster: the admin bus too.
    pub(crate) sails: bool,
}

/// Default key of @socket.io/redis-adapter's channels.
pub(crate) const DEFAULT_COMPAT_KEY: &str = "socket.io";

/// Where the subscriber connects, from the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
}

/// Checks a Redis URL: a `redis://` URL the subscriber can reach.
///
/// # Errors
///
/// Why the URL is refused.
pub(crate) fn check_redis_url(url: &str) -> Result<(), String> {
    endpoint(url).map(|_| ())
}

pub(crate) fn endpoint(url: &str) -> Result<(redis::Client, Endpoint), String> {
    let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL {url:?}: {e}"))?;
    let info = client.get_connection_info();
    let redis::ConnectionAddr::Tcp(host, port) = &info.addr else {
        return Err(format!(
            "invalid Redis URL {url:?}: only redis://host:port URLs are supported"
        ));
    };
    let endpoint = Endpoint {
        host: host.clone(),
        port: *port,
        username: info.redis.username.clone(),
        password: info.redis.password.clone(),
    };
    Ok((client, endpoint))
}

/// The URL without its password, for logs.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_redis_url("redis://127.0.0.1:6379").is_ok());
        assert!(check_redis_url("redis://:pw@localhost/2").is_ok());
        assert!(check_redis_url("http://x").is_err());
        assert!(check_redis_url("redis+unix:///tmp/r.sock").is_err());
        assert_eq!(redact("redis://u:pw@h:1/0"), "redis://***@h:1/0");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
    }
}
