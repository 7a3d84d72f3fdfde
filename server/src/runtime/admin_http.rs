//! Plain HTTP on the Socket.IO port: `/health`, `/metrics`, the demo page at `/`,
//! and the admin API under `/api/` (ROUTES.md, "Admin HTTP API"). Sans-IO: the
//! worker hands in a complete request (head and body) and gets back either a
//! response to write or a [`Query`] that needs other shards, which the worker
//! runs with `Engine::on_shard` while the connection waits (parked, never blocking
//! the worker).
//!
//! # Authentication
//!
//! Every `/api/` call needs `Authorization: Bearer <token>` with the token of the
//! config (`admin_token`) or `ROOMCAST_ADMIN_TOKEN`, compared in constant time
//! (time depends on the configured token's length only). Missing or wrong: 401
//! `E_UNAUTHORIZED`. With no token configured the API is off: every `/api/` call
//! gets 404 `E_ADMIN_DISABLED` saying how to enable it.

use roomcast::SocketId;
use serde_json::{json, Value};

use crate::handshake::{http_response, percent_decode, Request as HttpRequest};
use crate::router::{Context, Method, Request, Response, Router};

/// Most member ids `GET /api/rooms/:room` lists unless `?limit=` says otherwise.
pub(crate) const DEFAULT_MEMBER_LIMIT: usize = 1000;
/// Largest `?limit=` accepted.
pub(crate) const MAX_MEMBER_LIMIT: usize = 100_000;

/// The demo page (our own HTML and JavaScript).
const DEMO_PAGE: &str = include_str!("demo.html");

/// A read-only admin query that needs shards other than the worker's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Query {
    /// `GET /api/rooms/:room`: member count and up to `limit` ids.
    Room { room: String, limit: usize },
    /// `GET /api/sockets/:id`: the socket's rooms.
    Socket { id: SocketId },
}

/// What the worker does with a request.
#[derive(Debug)]
pub(crate) enum Routed {
    /// Write this response (`status`, content type, body).
    Reply(u16, &'static str, Vec<u8>),
    /// Run the query, then answer.
    Park(Query),
    /// `GET /metrics`: the worker renders the metrics.
    Metrics,
}

impl Routed {
    fn json(resp: &Response) -> Routed {
        let body = serde_json::to_vec(&resp.body).unwrap_or_else(|_| b"null".to_vec());
        Routed::Reply(resp.status, "application/json", body)
    }
}

/// Whether `given` equals `expected`, in time that depends only on
/// `expected.len()`.
#[must_use]
pub(crate) fn token_matches(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(g ^ e);
    }
    diff == 0
}

/// Checks the `Authorization` header against `token`.
fn authorize(req: &HttpRequest, token: Option<&str>) -> Result<(), Response> {
    let Some(token) = token else {
        return Err(Response::error(
            404,
            "E_ADMIN_DISABLED",
            "the admin API is off: start the server with ROOMCAST_ADMIN_TOKEN set \
             (or admin_token in the config file) to enable it",
        ));
    };
    let unauthorized = |m: &str| Response::error(401, "E_UNAUTHORIZED", m);
    let Some(value) = req.header("authorization") else {
        return Err(unauthorized(
            "missing `Authorization: Bearer <token>` header",
        ));
    };
    let value = value.trim();
    let given = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => return Err(unauthorized("the Authorization scheme must be Bearer")),
    };
    if token_matches(given.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(unauthorized("wrong admin token"))
    }
}

fn method_of(name: &str) -> Option<Method> {
    Method::ALL.into_iter().find(|m| m.as_str() == name)
}

/// Routes a complete plain-HTTP request. `shard` runs the admin write operations
/// (their cross-shard parts travel through the engine as usual).
pub(crate) fn route(
    req: &HttpRequest,
    body: &[u8],
    admin: &Router,
    admin_token: Option<&str>,
    shard: &mut roomcast::Shard,
) -> Routed {
    let get = matches!(req.method.as_str(), "GET" | "HEAD");
    match req.path.as_str() {
        "/health" if get => {
            return Routed::Reply(200, "application/json", br#"{"status":"ok"}"#.to_vec())
        }
        "/metrics" if get => return Routed::Metrics,
        "/" | "/index.html" if get => {
            return Routed::Reply(
                200,
                "text/html; charset=utf-8",
                DEMO_PAGE.as_bytes().to_vec(),
            )
        }
        _ => {}
    }
    let Some(rest) = req.path.strip_prefix("/api/") else {
        return Routed::json(&Response::not_found(&format!(
            "no such resource: {}",
            req.path
        )));
    };
    if let Err(resp) = authorize(req, admin_token) {
        return Routed::json(&resp);
    }
    if get {
        if let Some(room) = rest.strip_prefix("rooms/") {
            let room = percent_decode(room);
            if room.is_empty() {
                return Routed::json(&Response::bad_request("empty room name"));
            }
            let limit = match req.query.get("limit") {
                None => DEFAULT_MEMBER_LIMIT,
                Some(l) => match l.parse::<usize>() {
                    Ok(n) if n <= MAX_MEMBER_LIMIT => n,
                    _ => {
                        return Routed::json(&Response::bad_request(&format!(
                            "`limit` must be an integer from 0 to {MAX_MEMBER_LIMIT}"
                        )))
                    }
                },
            };
            return Routed::Park(Query::Room { room, limit });
        }
        if let Some(id) = rest.strip_prefix("sockets/") {
            return match percent_decode(id).parse::<SocketId>() {
                Ok(id) => Routed::Park(Query::Socket { id }),
                Err(e) => Routed::json(&Response::from_core_error(&e)),
            };
        }
    }
    let Some(method) = method_of(&req.method) else {
        return Routed::json(&Response::not_found(&format!(
            "no route for {} {}",
            req.method, req.path
        )));
    };
    let data: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return Routed::json(&Response::bad_request(&format!(
                    "the request body is not valid JSON: {e}"
                )))
            }
        }
    };
    let request = match Request::new(method, &req.target) {
        Ok(r) => r.with_body(data),
        Err(resp) => return Routed::json(&resp),
    };
    Routed::json(&admin.dispatch(&mut Context::new(shard, None), request))
}

/// The body of a finished [`Query::Room`].
pub(crate) fn room_body(room: &str, count: usize, members: &[String]) -> Value {
    json!({
        "room": room,
        "count": count,
        "members": members,
        "truncated": count > members.len(),
    })
}

/// Renders a response; `head_only` drops the body (HEAD) but keeps its length.
pub(crate) fn render(
    status: u16,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
    head_only: bool,
) -> Vec<u8> {
    let mut extra: Vec<(&str, &str)> = vec![("Content-Type", content_type)];
    if status == 401 {
        extra.push(("WWW-Authenticate", "Bearer"));
    }
    if content_type.starts_with("text/html") {
        extra.push(("Cache-Control", "no-cache"));
    }
    let mut out = http_response(status, &extra, body, keep_alive);
    if head_only {
        out.truncate(out.len() - body.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        assert!(token_matches(b"secret", b"secret"));
        assert!(!token_matches(b"secreT", b"secret"));
        assert!(!token_matches(b"secret!", b"secret"));
        assert!(!token_matches(b"secre", b"secret"));
        assert!(!token_matches(b"", b"secret"));
        assert!(token_matches(b"", b""));
    }
}
