//! Plain HTTP on the Socket.IO port: `/health`, `/metrics`, the demo page at `/`,
//! and the admin API under `/api/` (`docs/ROUTES.md`, "Admin HTTP API"). Sans-IO:
//! a connection hands in a complete request (head and body) and gets back either
//! a response to write or an [`AdminQuery`] that needs every shard (and, in a
//! cluster, every node), which [`ask`] starts with `Shard::query` while the
//! connection waits (parked, never blocking the worker).
//!
//! # Authentication
//!
//! Every `/api/` call needs `Authorization: Bearer <token>` with the token of the
//! config (`admin_token`) or `ROOMCAST_ADMIN_TOKEN`, compared in constant time
//! (time depends on the configured token's length only). Missing or wrong: 401
//! `E_UNAUTHORIZED`. With no token configured the API is off: every `/api/` call
//! gets 404 `E_ADMIN_DISABLED` saying how to enable it.

use roomcast::{Answer, Query, QueryResult, Room, Shard, SocketId};
use serde_json::json;

use super::app_state::AppState;
use super::env::{AnswerSink, AnswerTo, ConnKey};
use crate::protocol::http::{http_response, percent, Request as HttpRequest};
use crate::protocol::sio::body::{depth_within, MAX_JSON_DEPTH};
use crate::protocol::sio::{Body, Method, Request, Response};
use crate::router::Context;

/// Most member ids `GET /api/rooms/:room` lists unless `?limit=` says otherwise.
pub(crate) const DEFAULT_MEMBER_LIMIT: usize = 1000;
/// Largest `?limit=` accepted.
pub(crate) const MAX_MEMBER_LIMIT: usize = 100_000;

/// The demo page (our own HTML and JavaScript, on the socket.io client below).
const DEMO_PAGE: &str = include_str!("assets/demo.html");
/// The socket.io browser client (socket.io-client 4.8.1, MIT; its source map
/// line removed), served like socket.io servers do at
/// `<path>/socket.io.js`, so pages written for them load it unchanged.
const CLIENT_JS: &str = include_str!("assets/socket.io.min.js");

/// A read-only admin query that needs shards other than the worker's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AdminQuery {
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
    Park(AdminQuery),
    /// A write route deferred its answer (it waits for another node): park
    /// until it comes through the answer sink.
    Wait,
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
    app: &AppState,
    shard: &mut roomcast::Shard,
    answers: (&AnswerSink, ConnKey),
) -> Routed {
    let admin = &app.admin;
    let admin_token = app.config.admin_token.as_deref();
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
        p if get && app.handshake.is_client_script(p) => {
            return Routed::Reply(
                200,
                "application/javascript; charset=utf-8",
                CLIENT_JS.as_bytes().to_vec(),
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
        if rest == "cluster" {
            return Routed::json(&Response::ok(cluster_status(app, shard)));
        }
        if let Some(room) = rest.strip_prefix("rooms/") {
            let Some(room) = percent::decode_strict(room, false) else {
                return Routed::json(&Response::bad_request(
                    "malformed percent-encoding (or not UTF-8) in the room name",
                ));
            };
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
            return Routed::Park(AdminQuery::Room { room, limit });
        }
        if let Some(id) = rest.strip_prefix("sockets/") {
            // Any id that is not a live socket is unknown, malformed ones too.
            let id = percent::decode_lossy(id);
            return match id.parse::<SocketId>() {
                Ok(id) => Routed::Park(AdminQuery::Socket { id }),
                Err(_) => Routed::json(&Response::unknown_sockets(&[id])),
            };
        }
    }
    let Some(method) = method_of(&req.method) else {
        return Routed::json(&Response::not_found(&format!(
            "no route for {} {}",
            req.method, req.path
        )));
    };
    let data = if body.iter().all(u8::is_ascii_whitespace) {
        Body::null()
    } else if !std::str::from_utf8(body).is_ok_and(|t| depth_within(t, MAX_JSON_DEPTH)) {
        return Routed::json(&Response::bad_request(&format!(
            "the request body is not valid JSON (UTF-8, nested at most {MAX_JSON_DEPTH} deep)"
        )));
    } else {
        match serde_json::from_slice::<Box<serde_json::value::RawValue>>(body) {
            Ok(raw) => Body::from_raw(raw),
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
    let (sink, key) = answers;
    let later = || sink.later(key, AnswerTo::Http);
    let mut ctx = Context::new(shard, None).with_later(&later);
    let response = admin.dispatch(&mut ctx, request);
    if ctx.is_deferred() {
        return Routed::Wait;
    }
    Routed::json(&response)
}

/// `GET /api/cluster`: the cluster's nodes, or this lone node (`"redis": "off"`).
fn cluster_status(app: &AppState, shard: &roomcast::Shard) -> serde_json::Value {
    match &app.cluster {
        Some(view) => view.status(),
        None => json!({
            "self": app.config.node_name,
            "redis": "off",
            "nodes": [{
                "id": app.config.node_name,
                "sockets": shard.node_live_sockets(),
                "lastSeenMs": 0,
            }],
        }),
    }
}

/// Starts `query` on every shard (and node); its answer is sent to connection
/// `key` through `sink` as a response.
///
/// # Errors
///
/// The core's refusal (a bad room name).
pub(crate) fn ask(
    shard: &mut Shard,
    query: AdminQuery,
    sink: AnswerSink,
    key: ConnKey,
) -> Result<(), roomcast::Error> {
    match query {
        AdminQuery::Socket { id } => shard.query(Query::Socket { id }, move |r| {
            sink.send(key, socket_body(id, r));
        }),
        AdminQuery::Room { room, limit } => shard.query(
            Query::Room {
                room: Room::new(&room),
                limit,
            },
            move |r| sink.send(key, room_body(&room, r)),
        ),
    }
}

/// 503 `E_CLUSTER_UNAVAILABLE`: Redis is down, other nodes cannot be asked.
fn unavailable() -> Response {
    Response::error(
        503,
        "E_CLUSTER_UNAVAILABLE",
        "the cluster bus (Redis) is down: other nodes cannot be asked",
    )
}

/// `GET /api/sockets/:id`: its rooms, or 404 `E_UNKNOWN_SOCKET` (503 if its
/// node cannot be asked or did not answer).
fn socket_body(id: SocketId, r: QueryResult) -> Response {
    if r.unavailable {
        return unavailable();
    }
    if !r.missing.is_empty() {
        return Response::error(
            503,
            "E_CLUSTER_UNAVAILABLE",
            &format!("node {} did not answer in time", r.missing.join(", ")),
        );
    }
    match r.answer {
        Answer::Socket {
            rooms: Some(rooms),
            user,
            data,
            address,
        } => {
            let mut body = json!({"id": id.to_string(), "rooms": rooms});
            if let Some(user) = user {
                body["user"] = json!(user);
            }
            if let Some(address) = address {
                body["address"] = json!(address);
            }
            if let Some(data) =
                data.and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
            {
                body["data"] = data;
            }
            Response::ok(body)
        }

        _ => Response::unknown_sockets(&[id.to_string()]),
    }
}

/// `GET /api/rooms/:room`: the count and up to `limit` member ids, over the
/// cluster; `partial` with the `missing` nodes when some did not answer in time.
fn room_body(room: &str, r: QueryResult) -> Response {
    if r.unavailable {
        return unavailable();
    }
    let Answer::Room { count, members } = r.answer else {
        return Response::error(500, "E_INTERNAL", "wrong answer kind");
    };
    let members: Vec<String> = members.iter().map(ToString::to_string).collect();
    let truncated = count > members.len();
    Response::ok(json!({
        "room": room,
        "count": count,
        "members": members,
        "truncated": truncated,
        "partial": !r.missing.is_empty(),
        "missing": r.missing,
    }))
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
