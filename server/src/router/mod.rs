//! Virtual requests: sails.io.js's `io.socket.get/post/…` calls, routed to actions
//! that drive the core engine. Sans-IO: no sockets, no mio — the runtime hands in a
//! socket.io EVENT's name and arguments and sends back the ack this module builds.
//!
//! # From an event to a route
//!
//! sails.io.js sends a request as a socket.io event named after the HTTP method
//! (`get`, `post`, `put`, `patch`, `delete`, `options`, `head`) whose one argument is
//! `{"method", "url", "data", "headers"}`, with an ack id:
//!
//! ```text
//! 421["post",{"method":"post","url":"/sockets/join?x=1","data":{"room":"chat"},"headers":{}}]
//! ```
//!
//! 1. [`parse_virtual_request`] turns the event name and the raw JSON array of its
//!    arguments into a [`Request`]: the method comes from the **event name** (as in
//!    sails.io.js and Sails; the `method` field is ignored), `url` must be a string
//!    starting with `/`; it is split into the percent-decoded [`path`](Request::path)
//!    and the [`query`](Request::query) pairs (query parameters are *not* merged into
//!    the body); `data` becomes the [`body`](Request::body) as is (`null` when
//!    absent); `headers` must be an object if present. Anything else is an `Err`
//!    holding the 400 `E_BAD_REQUEST` [`Response`] to ack with. It never panics.
//! 2. [`Router::dispatch`] finds the route for the method and path, fills
//!    [`params`](Request::params) from the pattern's `:name` segments, and calls
//!    the action with a [`Context`]: the worker's own [`Shard`](roomcast::Shard)
//!    and the requesting socket. No route → 404 `E_NOT_FOUND` (also for a known path
//!    with another method).
//! 3. [`ack_payload`] renders the response as the ack's argument array, exactly
//!    `[{"body":<body>,"headers":{…},"statusCode":<n>}]`; the runtime wraps it in a
//!    `43<id>` packet.
//!
//! Route matching follows Express's defaults, which Sails uses: literal segments
//! match ASCII-case-insensitively and one trailing `/` is ignored. Matching runs
//! on the decoded [`path`](Request::path), so an encoded `/` (`%2F`) separates
//! segments like a plain one; a `:param` never matches an empty segment. When
//! several patterns match, the more specific wins (a literal segment beats a
//! `:param`, compared left to right), and between equally specific patterns the
//! one registered last wins — so an application's routes override the built-ins,
//! and registering the same method and pattern shape again replaces the earlier
//! action.
//!
//! # Ordering
//!
//! Actions run on the shard's own thread and the [`Shard`](roomcast::Shard)
//! methods apply the shard's part at once, so frames an action sends (a broadcast
//! reaching the requester, say) are queued before the ack the runtime queues with
//! `shard.send(id, ack)` after `dispatch` returns — the order Sails clients see.
//!
//! # Built-in routes and policy
//!
//! [`Router::with_builtin_routes`] registers every row of ROUTES.md's socket table
//! (`GET /sockets/id`, `POST /sockets/…`, `POST /pubsub/:model/…`), gated by a
//! [`Policy`] (see its docs for the table of capabilities and their defaults).
//! Bodies and errors:
//!
//! | status | body |
//! |---|---|
//! | 200 | `{"ok":true}`, or `{"id":"<socket id>"}` for `GET /sockets/id` |
//! | 400 | `{"error":"E_BAD_REQUEST","message":…}`: missing or wrongly typed field, bad room name, reserved event name, malformed id, a route that needs a requesting socket called without one |
//! | 403 | `{"error":"E_FORBIDDEN","message":…}`: refused by the policy, nothing changed |
//! | 404 | `{"error":"E_NOT_FOUND","message":…}`: no such route |
//! | 404 | `{"error":"E_UNKNOWN_SOCKET","message":…,"unknown":[ids]}`: `emit` to an unknown id (nothing sent), `join`/`leave`/pub/sub with an unknown `socketId` |
//! | 500 | `{"error":"E_INTERNAL","message":…}`: an engine error that is not the client's fault |
//!
//! # Example
//!
//! ```
//! use roomcast::{Engine, EngineConfig, MemoryWriter, wire::split_frames};
//! use roomcast_server::router::{ack_payload, parse_virtual_request, Context, Policy, Router};
//!
//! let (_engine, mut shards) = Engine::new(EngineConfig::default());
//! let shard = &mut shards[0];
//! let me = shard.connect().unwrap();
//! let router = Router::with_builtin_routes(Policy::default());
//!
//! for (event, args) in [
//!     ("post", r#"[{"url":"/sockets/join","data":{"room":"chat"}}]"#),
//!     ("post", r#"[{"url":"/sockets/broadcast","data":{"rooms":"chat","data":{"hi":1}}}]"#),
//! ] {
//!     let req = parse_virtual_request(event, args).unwrap();
//!     let resp = router.dispatch(&mut Context::new(shard, Some(me)), req);
//!     assert_eq!(ack_payload(&resp), r#"[{"body":{"ok":true},"headers":{},"statusCode":200}]"#);
//! }
//! let mut out = MemoryWriter::default();
//! shard.process_ops();
//! shard.drain(&mut out);
//! assert_eq!(split_frames(out.received(me)), [r#"42["message",{"hi":1}]"#]);
//!
//! let bad = parse_virtual_request("post", r#"[{"url":"sockets/join"}]"#).unwrap_err();
//! assert_eq!(bad.status, 400);
//! ```

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

mod admin;
mod builtin;
mod policy;

pub use policy::{Policy, MODEL_ROOM_PREFIX};

// ----- methods -------------------------------------------------------------------

/// The request methods sails.io.js sends (one socket.io event name each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `get`
    Get,
    /// `post`
    Post,
    /// `put`
    Put,
    /// `patch`
    Patch,
    /// `delete`
    Delete,
    /// `options`
    Options,
    /// `head`
    Head,
}

impl Method {
    /// Every method, in declaration order.
    pub const ALL: [Method; 7] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
        Method::Head,
    ];

    /// The method a socket.io event name stands for: exactly `"get"`, `"post"`,
    /// `"put"`, `"patch"`, `"delete"`, `"options"` or `"head"` (lower-case, as Sails
    /// listens for them); `None` for any other event.
    #[must_use]
    pub fn from_event(event: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.event_name() == event)
    }

    /// The HTTP method name, upper-case (`"GET"`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Head => "HEAD",
        }
    }

    /// The socket.io event name, lower-case (`"get"`).
    #[must_use]
    pub const fn event_name(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Put => "put",
            Method::Patch => "patch",
            Method::Delete => "delete",
            Method::Options => "options",
            Method::Head => "head",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ----- requests and responses ----------------------------------------------------

/// One virtual request (Sails' `req`), as parsed by [`parse_virtual_request`] or
/// built with [`Request::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The method (from the event name).
    pub method: Method,
    /// The URL as sent, e.g. `"/sockets/join?x=1"`.
    pub url: String,
    /// The URL without its query (and fragment), percent-decoded.
    pub path: String,
    /// The query's `name=value` pairs in order, decoded (`+` is a space).
    pub query: Vec<(String, String)>,
    /// The values of the route pattern's `:name` segments; filled by
    /// [`Router::dispatch`].
    pub params: Vec<(String, String)>,
    /// The request's `data` as sent (`Null` if absent). Query parameters are not
    /// merged into it.
    pub body: Value,
    /// The request's `headers` object (empty if absent).
    pub headers: Map<String, Value>,
}

impl Request {
    /// A request for `url` with a `null` body and no headers.
    ///
    /// # Errors
    ///
    /// A 400 `E_BAD_REQUEST` response if `url` does not start with `/` or its path
    /// is not valid percent-encoded UTF-8.
    pub fn new(method: Method, url: &str) -> Result<Request, Response> {
        let (path, query) = split_url(url)?;
        Ok(Request {
            method,
            url: url.to_owned(),
            path,
            query,
            params: Vec::new(),
            body: Value::Null,
            headers: Map::new(),
        })
    }

    /// The request with `body` as its body.
    #[must_use]
    pub fn with_body(mut self, body: Value) -> Request {
        self.body = body;
        self
    }

    /// The value of route parameter `name` (the pattern's `:name`).
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        lookup(&self.params, name)
    }

    /// The first value of query parameter `name`.
    #[must_use]
    pub fn query_value(&self, name: &str) -> Option<&str> {
        lookup(&self.query, name)
    }

    /// Header `name`, compared ASCII-case-insensitively.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&Value> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

fn lookup<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// What an action answers: the ack's `statusCode`, `body` and `headers`.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
    /// Response headers, in order (a repeated name keeps its first position and its
    /// last value in the ack).
    pub headers: Vec<(String, String)>,
}

impl Response {
    /// 200 with `body`.
    #[must_use]
    pub fn ok(body: Value) -> Response {
        Response::json(200, body)
    }

    /// `status` with `body` and no headers.
    #[must_use]
    pub fn json(status: u16, body: Value) -> Response {
        Response {
            status,
            body,
            headers: Vec::new(),
        }
    }

    /// An error: `status` with `{"error":code,"message":message}`.
    #[must_use]
    pub fn error(status: u16, code: &str, message: &str) -> Response {
        let mut body = Map::new();
        body.insert("error".to_owned(), Value::from(code));
        body.insert("message".to_owned(), Value::from(message));
        Response::json(status, Value::Object(body))
    }

    /// 400 `E_BAD_REQUEST` with `message`.
    #[must_use]
    pub fn bad_request(message: &str) -> Response {
        Response::error(400, "E_BAD_REQUEST", message)
    }

    /// 403 `E_FORBIDDEN` with `message`.
    #[must_use]
    pub fn forbidden(message: &str) -> Response {
        Response::error(403, "E_FORBIDDEN", message)
    }

    /// 404 `E_NOT_FOUND` with `message`.
    #[must_use]
    pub fn not_found(message: &str) -> Response {
        Response::error(404, "E_NOT_FOUND", message)
    }

    /// 404 `E_UNKNOWN_SOCKET`: `{"error":"E_UNKNOWN_SOCKET","message":…,"unknown":[ids]}`.
    #[must_use]
    pub fn unknown_sockets<S: AsRef<str>>(ids: &[S]) -> Response {
        let list: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
        let mut resp = Response::error(
            404,
            "E_UNKNOWN_SOCKET",
            &format!("no such socket: {}", list.join(", ")),
        );
        if let Value::Object(body) = &mut resp.body {
            body.insert(
                "unknown".to_owned(),
                Value::Array(list.into_iter().map(Value::from).collect()),
            );
        }
        resp
    }

    /// The response for a core engine error: 404 `E_UNKNOWN_SOCKET` for
    /// [`roomcast::Error::UnknownSockets`]; 400 `E_BAD_REQUEST` with the error's
    /// text for the client's mistakes (bad room name, reserved event, malformed
    /// socket id, bad record id or identity, namespace); 500 `E_INTERNAL` for the
    /// rest.
    #[must_use]
    pub fn from_core_error(err: &roomcast::Error) -> Response {
        use roomcast::Error as E;
        match err {
            E::UnknownSockets(ids) => Response::unknown_sockets(ids),
            E::InvalidRoomName { .. }
            | E::MalformedSocketId(_)
            | E::ReservedEvent(_)
            | E::InvalidNamespace(_)
            | E::InvalidRecordId(_)
            | E::InvalidIdentity(_) => Response::bad_request(&err.to_string()),
            _ => Response::error(500, "E_INTERNAL", &err.to_string()),
        }
    }
}

impl From<roomcast::Error> for Response {
    fn from(err: roomcast::Error) -> Response {
        Response::from_core_error(&err)
    }
}

/// Renders `resp` as a virtual request's ack arguments, exactly
/// `[{"body":<body>,"headers":{…},"statusCode":<n>}]` (this key order; the body's
/// own key order is kept).
///
/// ```
/// use roomcast_server::router::{ack_payload, Response};
/// let mut r = Response::ok(serde_json::json!({"b":1,"a":[2]}));
/// r.headers.push(("x-a".into(), "1".into()));
/// assert_eq!(ack_payload(&r), r#"[{"body":{"b":1,"a":[2]},"headers":{"x-a":"1"},"statusCode":200}]"#);
/// ```
#[must_use]
pub fn ack_payload(resp: &Response) -> String {
    let mut headers = Map::new();
    for (k, v) in &resp.headers {
        headers.insert(k.clone(), Value::from(v.as_str()));
    }
    let body = serde_json::to_string(&resp.body).unwrap_or_else(|_| "null".to_owned());
    let headers = serde_json::to_string(&headers).unwrap_or_else(|_| "{}".to_owned());
    format!(
        r#"[{{"body":{body},"headers":{headers},"statusCode":{}}}]"#,
        resp.status
    )
}

// ----- parsing -------------------------------------------------------------------

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses a virtual request: `event` is the socket.io event name, `args` the raw
/// JSON array of the arguments after it (e.g.
/// `[{"method":"post","url":"/x","data":{…},"headers":{}}]`).
///
/// The method comes from `event`; a `method` field that disagrees (or is not a
/// string) is ignored, as in sails.io.js. Arguments after the first are ignored.
///
/// # Errors
///
/// A 400 `E_BAD_REQUEST` [`Response`] saying what is wrong: `event` is not a
/// method's event name, `args` is not JSON or not an array, the array is empty,
/// its first element is not an object, `url` is missing, not a string, does not
/// start with `/` or has a malformed percent-encoded path, `headers` is present but
/// not an object. Never panics, whatever the input.
pub fn parse_virtual_request(event: &str, args: &str) -> Result<Request, Response> {
    let method = Method::from_event(event).ok_or_else(|| {
        Response::bad_request(&format!(
            "{event:?} is not a virtual request event (get, post, put, patch, delete, options, head)"
        ))
    })?;
    let parsed: Value = serde_json::from_str(args).map_err(|e| {
        Response::bad_request(&format!("request arguments are not valid JSON: {e}"))
    })?;
    let Value::Array(mut items) = parsed else {
        return Err(Response::bad_request(&format!(
            "request arguments must be a JSON array, got {}",
            json_type(&parsed)
        )));
    };
    if items.is_empty() {
        return Err(Response::bad_request(
            "missing the request object {\"method\",\"url\",\"data\",\"headers\"}",
        ));
    }
    let first = items.swap_remove(0);
    let Value::Object(mut obj) = first else {
        return Err(Response::bad_request(&format!(
            "the request must be a JSON object {{\"method\",\"url\",\"data\",\"headers\"}}, got {}",
            json_type(&first)
        )));
    };
    let url = match obj.remove("url") {
        Some(Value::String(u)) => u,
        None | Some(Value::Null) => return Err(Response::bad_request("the request has no `url`")),
        Some(other) => {
            return Err(Response::bad_request(&format!(
                "`url` must be a string, got {}",
                json_type(&other)
            )))
        }
    };
    let headers = match obj.remove("headers") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(h)) => h,
        Some(other) => {
            return Err(Response::bad_request(&format!(
                "`headers` must be an object, got {}",
                json_type(&other)
            )))
        }
    };
    let body = obj.remove("data").unwrap_or(Value::Null);
    let mut req = Request::new(method, &url)?;
    req.body = body;
    req.headers = headers;
    Ok(req)
}

/// Splits a URL into its decoded path and query pairs.
fn split_url(url: &str) -> Result<(String, Vec<(String, String)>), Response> {
    if !url.starts_with('/') {
        return Err(Response::bad_request(&format!(
            "`url` must start with '/', got {url:?}"
        )));
    }
    let url = url.split_once('#').map_or(url, |(u, _)| u);
    let (raw_path, raw_query) = url.split_once('?').unwrap_or((url, ""));
    let path = percent_decode(raw_path, false).ok_or_else(|| {
        Response::bad_request(&format!(
            "malformed percent-encoding (or not UTF-8) in path {raw_path:?}"
        ))
    })?;
    let query = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode_lossy(k), percent_decode_lossy(v))
        })
        .collect();
    Ok((path, query))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Strict percent-decoding: `None` for a malformed escape or a result that is not
/// UTF-8. With `plus`, `+` decodes to a space (query strings).
fn percent_decode(s: &str, plus: bool) -> Option<String> {
    let bytes = s.as_bytes();
    if !(bytes.contains(&b'%') || plus && bytes.contains(&b'+')) {
        return Some(s.to_owned());
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = hex(*bytes.get(i + 1)?)?;
                let lo = hex(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Query decoding as Node's `querystring` does: a malformed component is kept as
/// sent (only `+` turned into spaces).
fn percent_decode_lossy(s: &str) -> String {
    percent_decode(s, true).unwrap_or_else(|| s.replace('+', " "))
}

// ----- the router ----------------------------------------------------------------

/// What an action gets besides the request: the worker's own shard (operations on
/// it apply this shard's part at once) and the requesting socket (Sails'
/// `req.socket`; `None` for a request that did not come from a socket).
#[derive(Debug)]
pub struct Context<'a> {
    /// The shard of the worker thread running the action.
    pub shard: &'a mut roomcast::Shard,
    /// The socket that sent the request, if any.
    pub socket: Option<roomcast::SocketId>,
}

impl<'a> Context<'a> {
    /// A context for a request from `socket` handled on `shard`.
    pub fn new(shard: &'a mut roomcast::Shard, socket: Option<roomcast::SocketId>) -> Context<'a> {
        Context { shard, socket }
    }
}

/// A route's action (a Sails controller action): reads the request, drives the
/// engine through the context, answers.
pub type Action = dyn Fn(&mut Context<'_>, &Request) -> Response + Send + Sync;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

impl Segment {
    fn same_shape(&self, other: &Segment) -> bool {
        match (self, other) {
            (Segment::Literal(a), Segment::Literal(b)) => a.eq_ignore_ascii_case(b),
            (Segment::Param(_), Segment::Param(_)) => true,
            _ => false,
        }
    }
}

#[derive(Clone)]
struct Route {
    method: Method,
    pattern: String,
    segments: Vec<Segment>,
    action: Arc<Action>,
}

/// Path segments after the leading `/`, one trailing `/` ignored (`"/"` has none).
fn path_segments(path: &str) -> Vec<&str> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    }
}

/// The route table: method + path pattern → [`Action`]. Cheap to clone (the
/// actions are shared), `Send + Sync`: build it once, hand a clone to each worker.
/// See the [module docs](self) for matching rules.
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.routes
                    .iter()
                    .map(|r| format!("{} {}", r.method, r.pattern)),
            )
            .finish()
    }
}

impl Router {
    /// An empty router: every request gets 404 `E_NOT_FOUND`.
    #[must_use]
    pub fn new() -> Router {
        Router::default()
    }

    /// A router with every built-in socket route of ROUTES.md, gated by `policy`
    /// (see the [module docs](self)).
    #[must_use]
    pub fn with_builtin_routes(policy: Policy) -> Router {
        let mut router = Router::new();
        builtin::register(&mut router, Arc::new(policy));
        router
    }

    /// A router with the write routes of the admin HTTP API (`POST /api/sockets/…`,
    /// `POST /api/pubsub/:model/…`; see ROUTES.md): the socket routes' actions with
    /// every capability enabled, acting on the socket ids named in the body
    /// (`socketId`, `socketIds`, `omit`). Dispatch them with a [`Context`] whose
    /// `socket` is `None`. The runtime calls them only after checking the bearer
    /// token.
    #[must_use]
    pub fn admin_routes() -> Router {
        let mut router = Router::new();
        admin::register(&mut router);
        router
    }

    /// Registers `action` for `method` and `pattern` (`/`-separated segments, a
    /// segment `:name` matching any non-empty segment and captured as param
    /// `name`). A route of the same method and pattern shape (same literals, params
    /// in the same places, whatever their names) registered earlier is replaced:
    /// that is how an application overrides a built-in route.
    ///
    /// # Panics
    ///
    /// If `pattern` does not start with `/` or has a `:` segment with no name (a
    /// programming error in the route table).
    pub fn route(
        &mut self,
        method: Method,
        pattern: &str,
        action: impl Fn(&mut Context<'_>, &Request) -> Response + Send + Sync + 'static,
    ) -> &mut Self {
        assert!(
            pattern.starts_with('/'),
            "route pattern {pattern:?} must start with '/'"
        );
        let segments: Vec<Segment> = path_segments(pattern)
            .into_iter()
            .map(|s| match s.strip_prefix(':') {
                Some(name) => {
                    assert!(
                        !name.is_empty(),
                        "route pattern {pattern:?} has an unnamed ':' segment"
                    );
                    Segment::Param(name.to_owned())
                }
                None => Segment::Literal(s.to_owned()),
            })
            .collect();
        let route = Route {
            method,
            pattern: pattern.to_owned(),
            segments,
            action: Arc::new(action),
        };
        self.routes.retain(|r| {
            !(r.method == method
                && r.segments.len() == route.segments.len()
                && r.segments
                    .iter()
                    .zip(&route.segments)
                    .all(|(a, b)| a.same_shape(b)))
        });
        self.routes.push(route);
        self
    }

    /// The registered routes as `(method, pattern)`, in registration order.
    pub fn routes(&self) -> impl Iterator<Item = (Method, &str)> + '_ {
        self.routes.iter().map(|r| (r.method, r.pattern.as_str()))
    }

    /// Runs the action of the route matching `req` (see the [module docs](self)
    /// for the rules), with [`params`](Request::params) filled from the pattern.
    /// No match — including a known path with another method — answers 404
    /// `E_NOT_FOUND`.
    pub fn dispatch(&self, ctx: &mut Context<'_>, mut req: Request) -> Response {
        let segs = path_segments(&req.path);
        let mut best: Option<(&Route, Vec<bool>)> = None;
        for route in &self.routes {
            if route.method != req.method || route.segments.len() != segs.len() {
                continue;
            }
            let matches = route.segments.iter().zip(&segs).all(|(p, s)| match p {
                Segment::Literal(l) => l.eq_ignore_ascii_case(s),
                Segment::Param(_) => !s.is_empty(),
            });
            if !matches {
                continue;
            }
            let rank: Vec<bool> = route
                .segments
                .iter()
                .map(|s| matches!(s, Segment::Literal(_)))
                .collect();
            // `>=`: among equally specific routes the last registered wins.
            if best.as_ref().is_none_or(|(_, b)| rank >= *b) {
                best = Some((route, rank));
            }
        }
        let Some((route, _)) = best else {
            return Response::not_found(&format!("no route for {} {}", req.method, req.path));
        };
        req.params = route
            .segments
            .iter()
            .zip(&segs)
            .filter_map(|(p, s)| match p {
                Segment::Param(name) => Some((name.clone(), (*s).to_owned())),
                Segment::Literal(_) => None,
            })
            .collect();
        (route.action)(ctx, &req)
    }
}
