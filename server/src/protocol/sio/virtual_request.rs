//! Virtual requests: sails.io.js's `io.socket.get/post/…` calls, carried as
//! Socket.IO events named after the HTTP method whose one argument is
//! `{"method", "url", "data", "headers"}`, always with an ack id:
//!
//! ```text
//! 421["post",{"method":"post","url":"/sockets/join?x=1","data":{"room":"chat"},"headers":{}}]
//! ```
//!
//! [`parse_virtual_request`] turns the event name and the raw JSON array of its
//! arguments into a [`Request`]: the method comes from the **event name** (as in
//! sails.io.js and Sails; the `method` field is ignored), `url` must be a string
//! starting with `/`; it is split into the percent-decoded
//! [`path`](Request::path) and the [`query`](Request::query) pairs (query
//! parameters are *not* merged into the body); `data` becomes the
//! [`body`](Request::body) as is (`null` when absent); `headers` must be an
//! object if present. Anything else is an `Err` holding the 400 `E_BAD_REQUEST`
//! [`Response`] to ack with. It never panics.
//!
//! [`ack_payload`] renders a [`Response`] as the ack's argument array, exactly
//! `[{"body":<body>,"headers":{…},"statusCode":<n>}]`.

use std::fmt;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::body::{depth_within, field, json_type_of, Body, RawFields, MAX_JSON_DEPTH};
use crate::protocol::http::{percent, Query};

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
    /// `Router::dispatch`.
    pub params: Vec<(String, String)>,
    /// The request's `data`, as the JSON text sent (`null` if absent); it
    /// dereferences to a [`Value`]. Query parameters are not merged into it.
    pub body: Body,
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
            body: Body::null(),
            headers: Map::new(),
        })
    }

    /// The request with `body` as its body (a [`Value`] or a [`Body`]).
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Body>) -> Request {
        self.body = body.into();
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
}

/// Renders `resp` as a virtual request's ack arguments, exactly
/// `[{"body":<body>,"headers":{…},"statusCode":<n>}]` (this key order; the body's
/// own key order is kept).
///
/// ```
/// use roomcast_server::protocol::sio::{ack_payload, Response};
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
    if !depth_within(args, MAX_JSON_DEPTH + 2) {
        return Err(Response::bad_request(&format!(
            "request arguments are not valid JSON: nested deeper than {MAX_JSON_DEPTH}"
        )));
    }
    let items: Vec<&RawValue> = match serde_json::from_str::<&RawValue>(args) {
        Err(e) => {
            return Err(Response::bad_request(&format!(
                "request arguments are not valid JSON: {e}"
            )))
        }
        Ok(raw) if json_type_of(raw) != "an array" => {
            return Err(Response::bad_request(&format!(
                "request arguments must be a JSON array, got {}",
                json_type_of(raw)
            )))
        }
        Ok(raw) => serde_json::from_str(raw.get()).map_err(|e| {
            Response::bad_request(&format!("request arguments are not valid JSON: {e}"))
        })?,
    };
    let Some(first) = items.first() else {
        return Err(Response::bad_request(
            "missing the request object {\"method\",\"url\",\"data\",\"headers\"}",
        ));
    };
    let not_an_object = || {
        Response::bad_request(&format!(
            "the request must be a JSON object {{\"method\",\"url\",\"data\",\"headers\"}}, got {}",
            json_type_of(first)
        ))
    };
    if json_type_of(first) != "an object" {
        return Err(not_an_object());
    }
    let obj: RawFields<'_> = serde_json::from_str(first.get()).map_err(|_| not_an_object())?;
    let url: String = match field(&obj, "url") {
        None => return Err(Response::bad_request("the request has no `url`")),
        Some(raw) if raw.get() == "null" => {
            return Err(Response::bad_request("the request has no `url`"))
        }
        Some(raw) => serde_json::from_str(raw.get()).map_err(|_| {
            Response::bad_request(&format!(
                "`url` must be a string, got {}",
                json_type_of(raw)
            ))
        })?,
    };
    let headers = match field(&obj, "headers") {
        None => Map::new(),
        Some(raw) if raw.get() == "null" => Map::new(),
        Some(raw) => serde_json::from_str(raw.get()).map_err(|_| {
            Response::bad_request(&format!(
                "`headers` must be an object, got {}",
                json_type_of(raw)
            ))
        })?,
    };
    let mut req = Request::new(method, &url)?;
    if let Some(data) = field(&obj, "data") {
        req.body = Body::from_raw(data.to_owned());
    }
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
    let path = percent::decode_strict(raw_path, false).ok_or_else(|| {
        Response::bad_request(&format!(
            "malformed percent-encoding (or not UTF-8) in path {raw_path:?}"
        ))
    })?;
    let query = Query::parse(raw_query).pairs;
    Ok((path, query))
}
