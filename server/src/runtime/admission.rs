//! Admission: the access rules ([`crate::access`]) an Engine.IO request meets
//! before anything happens, and what a socket carries from its handshake.
//!
//! * Every Engine.IO request (either transport's handshake, polls, the
//!   upgrade) whose `Origin` is not allowed: 403 `{"code":4,"message":
//!   "Forbidden"}`, nothing opened.
//! * A new Engine.IO v3 session (sails.io.js, socket.io-client 2) with tokens
//!   required: its `?token=` is checked now (v3 has no CONNECT payload), 403
//!   as above if missing or invalid.
//! * A new v4 session: its `?token=` is kept for CONNECT (where an auth
//!   object's `token` takes precedence, `session_events`).
//!
//! Refusals are counted in `roomcast_access_refusals_total` and logged
//! (rate-limited) without the token.

use std::net::IpAddr;

use roomcast::SocketId;
use serde_json::{Map, Value};

use super::access_table::SocketAccess;
use super::env::Env;
use crate::access::webhook::Handshake;
use crate::access::{Grant, RateLimit};
use crate::protocol::eio::EioVersion;
use crate::protocol::http::{EngineErrorCode, Request};

/// What a new session brings from its handshake.
#[derive(Debug, Default)]
pub(crate) struct Admitted {
    grant: Option<Grant>,
    query_token: Option<String>,
    handshake: Option<Box<Handshake>>,
    /// The client's address: the TCP peer, or what a trusted proxy says.
    address: Option<IpAddr>,
}

/// Checks an Engine.IO request (`new_session`: a handshake) against the
/// access rules.
///
/// # Errors
///
/// The 403 answer to send instead.
pub(crate) fn check(
    request: &Request,
    version: EioVersion,
    new_session: bool,
    peer: Option<IpAddr>,
    env: &mut Env<'_>,
) -> Result<Admitted, Vec<u8>> {
    let access = &env.app.access;
    let client = client_address(request, peer, &env.app.config.trusted_proxies);
    if let Some(origins) = &access.origins {
        let origin = request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("origin"))
            .map(|(_, v)| v.as_slice());
        if !origins.allows(origin) {
            let shown = String::from_utf8_lossy(origin.unwrap_or_default()).into_owned();
            return Err(refuse(
                request,
                client,
                "origin",
                &format!("origin {shown:?} not allowed"),
                env,
            ));
        }
    }
    let mut admitted = Admitted::default();
    if !new_session {
        return Ok(admitted);
    }
    admitted.address = client;
    if access.webhook {
        admitted.handshake = Some(Box::new(handshake_of(request, admitted.address)));
    }
    let Some(tokens) = &access.tokens else {
        return Ok(admitted);
    };
    let token = request.query.get_single("token");
    match version {
        EioVersion::V3 => match tokens.verify(token) {
            Ok(grant) => admitted.grant = Some(grant),
            Err(why) => {
                let reason = why.label();
                return Err(refuse(request, client, reason, reason, env));
            }
        },
        EioVersion::V4 => admitted.query_token = token.map(str::to_owned),
    }
    Ok(admitted)
}

fn refuse(
    request: &Request,
    client: Option<IpAddr>,
    reason: &'static str,
    detail: &str,
    env: &mut Env<'_>,
) -> Vec<u8> {
    env.metrics.access_refusal(reason);
    env.stats
        .rejected
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if env.log_limit.allow(env.now) {
        let client = client.map_or_else(|| "?".to_owned(), |a| a.to_string());
        tracing::info!(worker = env.worker, %client, path = %request.path, "handshake refused: {detail}");
    }
    let cors = env.app.cors.headers(request);
    EngineErrorCode::Forbidden.response(&cors, false)
}

/// Socket `id` opened for an admitted handshake: its address is recorded and
/// its access state starts.
pub(crate) fn opened(id: SocketId, admitted: Admitted, env: &mut Env<'_>) {
    if let Some(address) = admitted.address {
        env.shard.set_address(id, Some(address.to_string().into()));
    }
    if !env.app.tracks_access() {
        return;
    }
    if let Some(user) = admitted.grant.as_ref().and_then(|g| g.user.as_deref()) {
        env.shard.set_user(id, Some(user.into()));
    }
    env.access.insert(
        id,
        SocketAccess {
            grant: admitted.grant,
            query_token: admitted.query_token,
            handshake: admitted.handshake,
            rate: env
                .app
                .access
                .ops_per_sec
                .map(|n| RateLimit::new(n, env.now)),
        },
    );
}

/// The handshake as the connect webhook reports it.
fn handshake_of(request: &Request, peer: Option<IpAddr>) -> Handshake {
    let mut query = Map::new();
    for (k, v) in &request.query.pairs {
        query.insert(k.clone(), Value::String(v.clone()));
    }
    let mut headers: Map<String, Value> = Map::new();
    for (name, value) in &request.headers {
        let name = name.to_ascii_lowercase();
        let value = String::from_utf8_lossy(value).trim().to_owned();
        match headers.get_mut(&name) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(&value);
            }
            _ => {
                headers.insert(name, Value::String(value));
            }
        }
    }
    Handshake {
        query,
        headers,
        address: peer.map(|a| a.to_string()),
    }
}

/// The client's address: the TCP `peer`, unless the peer is a trusted proxy —
/// then the last `X-Forwarded-For` entry that is not itself a trusted proxy
/// (each proxy appends the address it got the request from; entries a client
/// wrote itself come first and are not believed).
pub(crate) fn client_address(
    request: &Request,
    peer: Option<IpAddr>,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
        .filter_map(|(_, v)| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .collect();
    Some(
        forwarded
            .iter()
            .rev()
            .find(|a| !trusted.contains(a))
            .copied()
            .unwrap_or(peer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::http::parse_request;

    fn request(xff: &[&str]) -> Request {
        let mut head =
            String::from("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n");
        for v in xff {
            head.push_str(&format!("X-Forwarded-For: {v}\r\n"));
        }
        head.push_str("\r\n");
        parse_request(head.as_bytes(), 16 * 1024, 64)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_nobody_else_does() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxy = [ip("127.0.0.1"), ip("10.0.0.2")];
        let peer = Some(ip("127.0.0.1"));
        // Not from a trusted proxy: the peer, whatever the header says.
        let c = client_address(&request(&["203.0.113.7"]), Some(ip("198.51.100.1")), &proxy);
        assert_eq!(c, Some(ip("198.51.100.1")));
        // From the proxy: the last entry that is not a trusted proxy.
        assert_eq!(
            client_address(&request(&["203.0.113.7"]), peer, &proxy),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            client_address(&request(&["1.2.3.4, 203.0.113.7, 10.0.0.2"]), peer, &proxy),
            Some(ip("203.0.113.7")),
            "a client-written 1.2.3.4 comes first and is not believed"
        );
        assert_eq!(
            client_address(&request(&["1.2.3.4", "203.0.113.7"]), peer, &proxy),
            Some(ip("203.0.113.7")),
            "repeated headers read in order"
        );
        // Nothing usable: the peer.
        assert_eq!(client_address(&request(&[]), peer, &proxy), peer);
        assert_eq!(client_address(&request(&["junk"]), peer, &proxy), peer);
        assert_eq!(client_address(&request(&[]), None, &proxy), None);
        // No trusted proxies: the peer.
        assert_eq!(client_address(&request(&["203.0.113.7"]), peer, &[]), peer);
    }
}
