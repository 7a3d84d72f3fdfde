//! The built-in socket routes of `docs/ROUTES.md`, each a thin layer over the core API.
//!
//! Every action checks, in this order: the route's capability in the [`Policy`]
//! (403), the body's fields and limits (400), the policy on the values named
//! (another socket, reserved rooms: 403), the socket ids named (404 for any id that
//! is not a live socket, malformed ones included), then calls the core, mapping
//! its errors with [`Response::from_core_error`].
//!
//! Bodies are read from the JSON text the client sent ([`Body`](crate::protocol::sio::Body)):
//! `data` is copied into the event frame as is, never parsed into a tree and
//! serialized again.

use std::sync::Arc;

use roomcast::{Applied, LeaveAllOptions, RecordId, SocketId};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::policy::Policy;
use super::table::{Context, Router};
use crate::protocol::sio::body::{field, json_type_of, RawFields};
use crate::protocol::sio::{Method, Request, Response};

impl Router {
    /// A router with every built-in socket route of `docs/ROUTES.md`, gated by
    /// `policy`, with the default limits.
    #[must_use]
    pub fn with_builtin_routes(policy: Policy) -> Router {
        Router::builtin(Rules::new(policy))
    }

    /// A router with every built-in socket route, checked against `rules`.
    #[must_use]
    pub fn builtin(rules: Rules) -> Router {
        let mut router = Router::new();
        register(&mut router, Arc::new(rules));
        router
    }
}

pub(super) type Outcome = Result<Response, Response>;

/// What the built-in routes are checked against: the policy, and the limits on
/// one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Which routes a client may call.
    pub policy: Policy,
    /// Most rooms (or record ids) one request may name (`max_rooms_per_op`).
    pub max_rooms_per_op: usize,
    /// This node's name, for `GET /sockets/id` (empty: not told).
    pub node_name: String,
}

impl Rules {
    /// `policy` with the default limits.
    #[must_use]
    pub fn new(policy: Policy) -> Rules {
        Rules {
            policy,
            max_rooms_per_op: DEFAULT_MAX_ROOMS_PER_OP,
            node_name: String::new(),
        }
    }
}

/// Default [`Rules::max_rooms_per_op`]: 1000.
pub const DEFAULT_MAX_ROOMS_PER_OP: usize = 1000;

/// Who calls an action: a socket's virtual request, or a backend through the admin
/// HTTP API. They differ only in how a body names sockets: a socket's `omitSender`
/// flag omits the requester, the admin API's `omit` names a socket id; the admin
/// `join`/`leave` also take `socketIds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Caller {
    Socket,
    Admin,
}

/// The fields of a request body, read from its JSON text: an object, or nothing
/// (`null`/absent data).
pub(super) struct Fields<'a>(Option<RawFields<'a>>);

impl<'a> Fields<'a> {
    pub(super) fn of(req: &'a Request) -> Result<Fields<'a>, Response> {
        req.body.fields().map(Fields).map_err(|got| {
            Response::bad_request(&format!(
                "the request data must be a JSON object, got {got}"
            ))
        })
    }

    /// The field's raw value, present even if `null`.
    fn raw(&self, key: &str) -> Option<&'a RawValue> {
        self.0.as_ref().and_then(|f| field(f, key))
    }

    /// The field's value; `null` counts as absent.
    pub(super) fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.raw(key).filter(|v| v.get() != "null")
    }

    pub(super) fn required(&self, key: &str) -> Result<&'a RawValue, Response> {
        self.get(key)
            .ok_or_else(|| Response::bad_request(&format!("missing `{key}`")))
    }

    pub(super) fn string(&self, key: &str) -> Result<String, Response> {
        expect_str(key, self.required(key)?)
    }

    pub(super) fn opt_string(&self, key: &str) -> Result<Option<String>, Response> {
        self.get(key).map(|v| expect_str(key, v)).transpose()
    }

    pub(super) fn flag(&self, key: &str, default: bool) -> Result<bool, Response> {
        match self.get(key).map(RawValue::get) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(_) => Err(wrong_type(
                key,
                "a boolean",
                self.get(key).expect("present"),
            )),
        }
    }

    /// `data`, as the JSON text sent: required (as in Sails), `null` allowed.
    pub(super) fn data(&self) -> Result<&'a RawValue, Response> {
        self.raw("data")
            .ok_or_else(|| Response::bad_request("missing `data`"))
    }

    /// A string or an array of strings (room names, socket ids).
    pub(super) fn names(&self, key: &str) -> Result<Vec<String>, Response> {
        let v = self.required(key)?;
        match json_type_of(v) {
            "a string" => Ok(vec![expect_str(key, v)?]),
            "an array" => {
                let items: Vec<&RawValue> = serde_json::from_str(v.get())
                    .map_err(|_| wrong_type(key, "a string or an array of strings", v))?;
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| expect_str(&format!("{key}[{i}]"), item))
                    .collect()
            }
            _ => Err(wrong_type(key, "a string or an array of strings", v)),
        }
    }

    /// A record id or an array of them.
    pub(super) fn record_ids(&self, key: &str) -> Result<Vec<RecordId>, Response> {
        let one = |k: &str, v: &Value| {
            RecordId::from_json(v).map_err(|e| Response::bad_request(&format!("`{k}`: {e}")))
        };
        let v: Value = serde_json::from_str(self.required(key)?.get()).unwrap_or(Value::Null);
        match &v {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| one(&format!("{key}[{i}]"), v))
                .collect(),
            v => Ok(vec![one(key, v)?]),
        }
    }
}

fn wrong_type(key: &str, wanted: &str, got: &RawValue) -> Response {
    Response::bad_request(&format!(
        "`{key}` must be {wanted}, got {}",
        json_type_of(got)
    ))
}

fn expect_str(key: &str, v: &RawValue) -> Result<String, Response> {
    if json_type_of(v) != "a string" {
        return Err(wrong_type(key, "a string", v));
    }
    serde_json::from_str(v.get()).map_err(|_| wrong_type(key, "a string", v))
}

/// A list that may name at most `max` rooms (`max_rooms_per_op`).
fn check_count(key: &str, len: usize, max: usize) -> Result<(), Response> {
    if len > max {
        return Err(Response::bad_request(&format!(
            "`{key}` names {len} rooms; the limit is {max} a request (max_rooms_per_op)"
        )));
    }
    Ok(())
}

/// Parses socket ids. One that is not an id at all is an unknown socket, like a
/// stale or forged one: then nothing is done, and the 404 `E_UNKNOWN_SOCKET`
/// lists every id of `texts` known not to be live (malformed ones, this node's
/// that are not connected, ids of nodes outside the cluster; a live node's ids
/// only their owner can judge, and they are not listed).
fn socket_ids(ctx: &Context<'_>, texts: &[String]) -> Result<Vec<SocketId>, Response> {
    let parsed: Vec<Option<SocketId>> = texts.iter().map(|t| SocketId::parse(t)).collect();
    if parsed.iter().all(Option::is_some) {
        return Ok(parsed.into_iter().flatten().collect());
    }
    let unknown: Vec<&str> = texts
        .iter()
        .zip(&parsed)
        .filter(|(_, id)| id.is_none_or(|id| ctx.shard.is_unknown(id)))
        .map(|(t, _)| t.as_str())
        .collect();
    Err(Response::unknown_sockets(&unknown))
}

pub(super) fn ok() -> Outcome {
    Ok(Response::ok(json!({"ok": true})))
}

/// 403 unless the policy enables `what` (its setting is `policy.<setting>`).
fn allow(enabled: bool, setting: &str, what: &str) -> Result<(), Response> {
    if enabled {
        Ok(())
    } else {
        Err(Response::forbidden(&format!(
            "{what} is not allowed for clients by this server's policy \
             (set `{setting} = true` in the config file's [policy] table to allow it)"
        )))
    }
}

fn requester(ctx: &Context<'_>) -> Result<SocketId, Response> {
    ctx.socket
        .ok_or_else(|| Response::bad_request("this route needs a request from a socket"))
}

/// The socket a route acts on: `socketId` if given (another socket needs
/// `act_on_other_sockets`), else the requester.
fn target_socket(
    ctx: &Context<'_>,
    fields: &Fields<'_>,
    policy: &Policy,
) -> Result<SocketId, Response> {
    let Some(text) = fields.opt_string("socketId")? else {
        return ctx.socket.ok_or_else(|| {
            Response::bad_request("this route needs a request from a socket, or a `socketId`")
        });
    };
    let id = SocketId::parse(&text);
    if id.is_none() || id != ctx.socket {
        allow(
            policy.act_on_other_sockets,
            "act_on_other_sockets",
            "acting on another socket",
        )?;
    }
    Ok(socket_ids(ctx, &[text])?[0])
}

fn check_rooms<S: AsRef<str>>(
    ctx: &Context<'_>,
    policy: &Policy,
    rooms: &[S],
) -> Result<(), Response> {
    if policy.reserved_rooms {
        return Ok(());
    }
    match rooms
        .iter()
        .find(|r| Policy::is_reserved_room(r.as_ref(), ctx.socket))
    {
        Some(room) => Err(Response::forbidden(&format!(
            "room {:?} is reserved (another socket's id room, or a pub/sub room); \
             this server's policy does not let clients use it (policy.reserved_rooms)",
            room.as_ref()
        ))),
        None => Ok(()),
    }
}

/// The answer to a batch of operations on socket ids ([`roomcast::Confirmed`]):
/// now, or — when parts went to other nodes of a cluster — once they confirmed
/// (deferred through [`Context::defer`]). `unknown` adds ids found unknown
/// outside the batch.
pub(super) fn settle(ctx: &mut Context<'_>, applied: Applied, unknown: Vec<SocketId>) -> Outcome {
    match applied {
        Applied::Now(mut more) => {
            more.extend(unknown);
            unknown_or_ok(&more)
        }
        Applied::Later(waiting) => {
            let Some(later) = ctx.defer() else {
                // A caller that cannot wait: the parts were sent.
                waiting.then(|_| {});
                return unknown_or_ok(&unknown);
            };
            waiting.then(move |result| {
                let response = match result {
                    Ok(mut more) => {
                        more.extend(unknown);
                        unknown_or_ok(&more).unwrap_or_else(|e| e)
                    }
                    Err(e) => Response::from(e),
                };
                later.send(response);
            });
            // Not sent: the answer goes through `later`.
            ok()
        }
    }
}

pub(super) fn unknown_or_ok(unknown: &[SocketId]) -> Outcome {
    if unknown.is_empty() {
        ok()
    } else {
        let ids: Vec<String> = unknown.iter().map(ToString::to_string).collect();
        Err(Response::unknown_sockets(&ids))
    }
}

/// The socket to leave out: the requester if `omitSender` is true (a socket's
/// request), or the socket id in `omit` (admin).
pub(super) fn omit(
    ctx: &Context<'_>,
    fields: &Fields<'_>,
    caller: Caller,
) -> Result<Option<SocketId>, Response> {
    match caller {
        Caller::Socket => Ok(if fields.flag("omitSender", false)? {
            ctx.socket
        } else {
            None
        }),
        Caller::Admin => match fields.opt_string("omit")? {
            None => Ok(None),
            Some(text) => Ok(Some(socket_ids(ctx, &[text])?[0])),
        },
    }
}

/// The event frame: `event` (default `message`; empty is refused, as in Sails)
/// with `data` (required) copied in as the JSON text sent, never re-encoded.
pub(super) fn event_frame(
    ctx: &Context<'_>,
    fields: &Fields<'_>,
) -> Result<roomcast::Frame, Response> {
    let event = fields.opt_string("event")?;
    let event = match event.as_deref() {
        None => "message",
        Some("") => return Err(Response::bad_request("`event` must not be empty")),
        Some(e) => e,
    };
    let data = fields.data()?;
    let nsp = &ctx.shard.config().namespace;
    Ok(roomcast::Frame::event_raw(nsp, event, Some(data.get()))?)
}

pub(super) fn model<'s>(
    ctx: &'s mut Context<'_>,
    req: &Request,
) -> Result<roomcast::Model<&'s mut roomcast::Shard>, Response> {
    let identity = req.param("model").unwrap_or_default();
    Ok(ctx.shard.model(identity)?)
}

/// Registers every built-in route on `router`.
pub(super) fn register(router: &mut Router, rules: Arc<Rules>) {
    let add = |router: &mut Router,
               method,
               pattern: &str,
               f: fn(&Rules, &mut Context<'_>, &Request) -> Outcome| {
        let rules = rules.clone();
        router.route(method, pattern, move |ctx, req| {
            f(&rules, ctx, req).unwrap_or_else(|e| e)
        });
    };
    add(router, Method::Get, "/sockets/id", get_id);
    add(router, Method::Post, "/sockets/join", |r, c, q| {
        join(r, c, q, true, Caller::Socket)
    });
    add(router, Method::Post, "/sockets/leave", |r, c, q| {
        join(r, c, q, false, Caller::Socket)
    });
    add(router, Method::Post, "/sockets/broadcast", |r, c, q| {
        broadcast(r, c, q, Caller::Socket)
    });
    add(router, Method::Post, "/sockets/blast", |r, c, q| {
        blast(r, c, q, Caller::Socket)
    });
    add(router, Method::Post, "/sockets/emit", emit);
    add(router, Method::Post, "/sockets/leave-all", leave_all);
    add(
        router,
        Method::Post,
        "/sockets/add-room-members-to-rooms",
        |r, c, q| room_to_rooms(r, c, q, true),
    );
    add(
        router,
        Method::Post,
        "/sockets/remove-room-members-from-rooms",
        |r, c, q| room_to_rooms(r, c, q, false),
    );
    add(
        router,
        Method::Post,
        "/pubsub/:model/subscribe",
        |r, c, q| subscribe(r, c, q, true),
    );
    add(
        router,
        Method::Post,
        "/pubsub/:model/unsubscribe",
        |r, c, q| subscribe(r, c, q, false),
    );
    add(router, Method::Post, "/pubsub/:model/watch", |r, c, q| {
        watch(r, c, q, true)
    });
    add(router, Method::Post, "/pubsub/:model/unwatch", |r, c, q| {
        watch(r, c, q, false)
    });
    add(router, Method::Post, "/pubsub/:model/message", |r, c, q| {
        message(r, c, q, Caller::Socket)
    });
    add(router, Method::Post, "/pubsub/:model/publish", |r, c, q| {
        publish(r, c, q, Caller::Socket)
    });
}

fn get_id(rules: &Rules, ctx: &mut Context<'_>, _: &Request) -> Outcome {
    let id = requester(ctx)?;
    Ok(Response::ok(json!({
        "id": id.to_string(),
        "node": rules.node_name,
        "worker": ctx.shard.index(),
    })))
}

pub(super) fn join(
    rules: &Rules,
    ctx: &mut Context<'_>,
    req: &Request,
    join: bool,
    caller: Caller,
) -> Outcome {
    let policy = &rules.policy;
    allow(policy.join, "join", if join { "join" } else { "leave" })?;
    let f = Fields::of(req)?;
    let room = f.string("room")?;
    let targets: Vec<SocketId> = if caller == Caller::Admin && f.get("socketIds").is_some() {
        socket_ids(ctx, &f.names("socketIds")?)?
    } else {
        vec![target_socket(ctx, &f, policy)?]
    };
    check_rooms(ctx, policy, &[&room])?;
    if join && caller == Caller::Socket {
        ctx.check_may_join(&room)?;
    }
    let mut batch = ctx.shard.confirmed();
    if join {
        batch.join(targets.as_slice(), &room)?;
    } else {
        batch.leave(targets.as_slice(), &room)?;
    }
    let applied = batch.finish();
    settle(ctx, applied, Vec::new())
}

pub(super) fn broadcast(
    rules: &Rules,
    ctx: &mut Context<'_>,
    req: &Request,
    caller: Caller,
) -> Outcome {
    allow(rules.policy.broadcast, "broadcast", "broadcast")?;
    let f = Fields::of(req)?;
    let rooms = f.names("rooms")?;
    check_count("rooms", rooms.len(), rules.max_rooms_per_op)?;
    let frame = event_frame(ctx, &f)?;
    let omit = omit(ctx, &f, caller)?;
    check_rooms(ctx, &rules.policy, &rooms)?;
    ctx.shard.broadcast_frame(&rooms, &frame, omit)?;
    ok()
}

pub(super) fn blast(
    rules: &Rules,
    ctx: &mut Context<'_>,
    req: &Request,
    caller: Caller,
) -> Outcome {
    allow(rules.policy.blast, "blast", "blast")?;
    let f = Fields::of(req)?;
    let frame = event_frame(ctx, &f)?;
    let omit = omit(ctx, &f, caller)?;
    ctx.shard.blast_frame(&frame, omit);
    ok()
}

pub(super) fn emit(rules: &Rules, ctx: &mut Context<'_>, req: &Request) -> Outcome {
    allow(rules.policy.emit, "emit", "emit")?;
    let f = Fields::of(req)?;
    let texts = f.names("socketIds")?;
    let frame = event_frame(ctx, &f)?;
    let ids = socket_ids(ctx, &texts)?;
    let mut batch = ctx.shard.confirmed();
    batch.emit_frame(ids.as_slice(), &frame)?;
    let applied = batch.finish();
    settle(ctx, applied, Vec::new())
}

pub(super) fn leave_all(rules: &Rules, ctx: &mut Context<'_>, req: &Request) -> Outcome {
    allow(rules.policy.leave_all, "leave_all", "leave-all")?;
    let f = Fields::of(req)?;
    let room = f.string("room")?;
    let options = LeaveAllOptions {
        include_socket_rooms: f.flag("includeSocketRooms", false)?,
        include_source_room: f.flag("includeSourceRoom", true)?,
    };
    check_rooms(ctx, &rules.policy, &[&room])?;
    ctx.shard.leave_all(&room, options)?;
    ok()
}

pub(super) fn room_to_rooms(
    rules: &Rules,
    ctx: &mut Context<'_>,
    req: &Request,
    add: bool,
) -> Outcome {
    let policy = &rules.policy;
    allow(
        policy.room_to_rooms,
        "room_to_rooms",
        if add {
            "add-room-members-to-rooms"
        } else {
            "remove-room-members-from-rooms"
        },
    )?;
    let f = Fields::of(req)?;
    let source = f.string("sourceRoom")?;
    let dests = f.names("destRooms")?;
    check_count("destRooms", dests.len(), rules.max_rooms_per_op)?;
    check_rooms(ctx, policy, &[&source])?;
    check_rooms(ctx, policy, &dests)?;
    if add {
        ctx.shard.add_room_members_to_rooms(&source, &dests)?;
    } else {
        ctx.shard.remove_room_members_from_rooms(&source, &dests)?;
    }
    ok()
}

pub(super) fn subscribe(rules: &Rules, ctx: &mut Context<'_>, req: &Request, sub: bool) -> Outcome {
    let policy = &rules.policy;
    allow(
        policy.pubsub_subscribe,
        "pubsub_subscribe",
        if sub { "subscribe" } else { "unsubscribe" },
    )?;
    let f = Fields::of(req)?;
    let ids = f.record_ids("ids")?;
    check_count("ids", ids.len(), rules.max_rooms_per_op)?;
    let target = target_socket(ctx, &f, policy)?;
    let identity = req.param("model").unwrap_or_default();
    let mut batch = ctx.shard.confirmed();
    let mut model = batch.model(identity)?;
    let unknown = if sub {
        model.subscribe(target, &ids)?
    } else {
        model.unsubscribe(target, &ids)?
    };
    let applied = batch.finish();
    settle(ctx, applied, unknown)
}

pub(super) fn watch(rules: &Rules, ctx: &mut Context<'_>, req: &Request, watch: bool) -> Outcome {
    let policy = &rules.policy;
    allow(
        policy.pubsub_subscribe,
        "pubsub_subscribe",
        if watch { "watch" } else { "unwatch" },
    )?;
    let f = Fields::of(req)?;
    let target = target_socket(ctx, &f, policy)?;
    let identity = req.param("model").unwrap_or_default();
    let mut batch = ctx.shard.confirmed();
    let mut model = batch.model(identity)?;
    let unknown = if watch {
        model.watch(target)?
    } else {
        model.unwatch(target)?
    };
    let applied = batch.finish();
    settle(ctx, applied, unknown)
}

pub(super) fn message(
    rules: &Rules,
    ctx: &mut Context<'_>,
    req: &Request,
    caller: Caller,
) -> Outcome {
    allow(rules.policy.pubsub_message, "pubsub_message", "message")?;
    let f = Fields::of(req)?;
    let id = record_id(&f, "id")?;
    let omit = omit(ctx, &f, caller)?;
    let data = f.data()?;
    model(ctx, req)?.message(&id, data, omit)?;
    ok()
}

pub(super) fn publish(
    rules: &Rules,
    ctx: &mut Context<'_>,
    req: &Request,
    caller: Caller,
) -> Outcome {
    allow(rules.policy.pubsub_publish, "pubsub_publish", "publish")?;
    let f = Fields::of(req)?;
    let ids = f.record_ids("ids")?;
    check_count("ids", ids.len(), rules.max_rooms_per_op)?;
    let data = f.data()?;
    let omit = omit(ctx, &f, caller)?;
    model(ctx, req)?.publish(&ids, data, omit)?;
    ok()
}

/// A record id field.
pub(super) fn record_id(f: &Fields<'_>, key: &str) -> Result<RecordId, Response> {
    let v: Value = serde_json::from_str(f.required(key)?.get()).unwrap_or(Value::Null);
    RecordId::from_json(&v).map_err(|e| Response::bad_request(&format!("`{key}`: {e}")))
}
