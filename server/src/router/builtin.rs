//! The built-in socket routes of ROUTES.md, each a thin layer over the core API.
//!
//! Every action checks, in this order: the route's capability in the [`Policy`]
//! (403), the body's fields (400), the policy on the values named (another socket,
//! reserved rooms: 403), then calls the core, mapping its errors with
//! [`Response::from_core_error`].

use std::sync::Arc;

use roomcast::{LeaveAllOptions, RecordId, SocketId};
use serde_json::{json, Map, Value};

use super::{json_type, Context, Method, Policy, Request, Response, Router};

pub(super) type Outcome = Result<Response, Response>;

/// Who calls an action: a socket's virtual request, or a backend through the admin
/// HTTP API. They differ only in how a body names sockets: a socket's `omitSender`
/// flag omits the requester, the admin API's `omit` names a socket id; the admin
/// `join`/`leave` also take `socketIds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Caller {
    Socket,
    Admin,
}

/// The fields of a request body: an object, or nothing (`null`/absent data).
pub(super) struct Fields<'a>(Option<&'a Map<String, Value>>);

impl<'a> Fields<'a> {
    pub(super) fn of(req: &'a Request) -> Result<Fields<'a>, Response> {
        match &req.body {
            Value::Null => Ok(Fields(None)),
            Value::Object(m) => Ok(Fields(Some(m))),
            other => Err(Response::bad_request(&format!(
                "the request data must be a JSON object, got {}",
                json_type(other)
            ))),
        }
    }

    /// The field's value; `null` counts as absent.
    pub(super) fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    pub(super) fn required(&self, key: &str) -> Result<&'a Value, Response> {
        self.get(key)
            .ok_or_else(|| Response::bad_request(&format!("missing `{key}`")))
    }

    pub(super) fn string(&self, key: &str) -> Result<&'a str, Response> {
        expect_str(key, self.required(key)?)
    }

    pub(super) fn opt_string(&self, key: &str) -> Result<Option<&'a str>, Response> {
        self.get(key).map(|v| expect_str(key, v)).transpose()
    }

    pub(super) fn flag(&self, key: &str, default: bool) -> Result<bool, Response> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(wrong_type(key, "a boolean", other)),
        }
    }

    /// `data`, passed on as is (`null` when absent, as socket.io sends `undefined`).
    pub(super) fn data(&self) -> &'a Value {
        const NULL: &Value = &Value::Null;
        self.get("data").unwrap_or(NULL)
    }

    /// A string or an array of strings (room names, socket ids).
    pub(super) fn names(&self, key: &str) -> Result<Vec<&'a str>, Response> {
        match self.required(key)? {
            Value::String(s) => Ok(vec![s.as_str()]),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| expect_str(&format!("{key}[{i}]"), v))
                .collect(),
            other => Err(wrong_type(key, "a string or an array of strings", other)),
        }
    }

    /// A record id or an array of them.
    pub(super) fn record_ids(&self, key: &str) -> Result<Vec<RecordId>, Response> {
        let one = |k: &str, v: &Value| {
            RecordId::from_json(v).map_err(|e| Response::bad_request(&format!("`{k}`: {e}")))
        };
        match self.required(key)? {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| one(&format!("{key}[{i}]"), v))
                .collect(),
            v => Ok(vec![one(key, v)?]),
        }
    }
}

fn wrong_type(key: &str, wanted: &str, got: &Value) -> Response {
    Response::bad_request(&format!("`{key}` must be {wanted}, got {}", json_type(got)))
}

fn expect_str<'v>(key: &str, v: &'v Value) -> Result<&'v str, Response> {
    v.as_str().ok_or_else(|| wrong_type(key, "a string", v))
}

pub(super) fn ok() -> Outcome {
    Ok(Response::ok(json!({"ok": true})))
}

fn allow(enabled: bool, what: &str) -> Result<(), Response> {
    if enabled {
        Ok(())
    } else {
        Err(Response::forbidden(&format!(
            "{what} is not allowed for clients by this server's policy"
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
    let id: SocketId = text.parse().map_err(|e| Response::from_core_error(&e))?;
    if Some(id) != ctx.socket {
        allow(policy.act_on_other_sockets, "acting on another socket")?;
    }
    Ok(id)
}

fn check_rooms(ctx: &Context<'_>, policy: &Policy, rooms: &[&str]) -> Result<(), Response> {
    if policy.reserved_rooms {
        return Ok(());
    }
    match rooms
        .iter()
        .find(|r| Policy::is_reserved_room(r, ctx.socket))
    {
        Some(room) => Err(Response::forbidden(&format!(
            "room {room:?} is reserved (another socket's id room, or a pub/sub room); \
             this server's policy does not let clients use it"
        ))),
        None => Ok(()),
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
        Caller::Admin => fields
            .opt_string("omit")?
            .map(|text| text.parse().map_err(|e| Response::from_core_error(&e)))
            .transpose(),
    }
}

pub(super) fn event_frame(
    ctx: &Context<'_>,
    fields: &Fields<'_>,
) -> Result<roomcast::Frame, Response> {
    let event = fields.opt_string("event")?.unwrap_or("message");
    let nsp = &ctx.shard.engine().config().namespace;
    Ok(roomcast::Frame::event(nsp, event, fields.data())?)
}

pub(super) fn model<'s>(
    ctx: &'s mut Context<'_>,
    req: &Request,
) -> Result<roomcast::Model<&'s mut roomcast::Shard>, Response> {
    let identity = req.param("model").unwrap_or_default();
    Ok(ctx.shard.model(identity)?)
}

/// Registers every built-in route on `router`.
pub(super) fn register(router: &mut Router, policy: Arc<Policy>) {
    let p = policy;
    let add = |router: &mut Router,
               method,
               pattern: &str,
               f: fn(&Policy, &mut Context<'_>, &Request) -> Outcome| {
        let p = p.clone();
        router.route(method, pattern, move |ctx, req| {
            f(&p, ctx, req).unwrap_or_else(|e| e)
        });
    };
    add(router, Method::Get, "/sockets/id", get_id);
    add(router, Method::Post, "/sockets/join", |p, c, r| {
        join(p, c, r, true, Caller::Socket)
    });
    add(router, Method::Post, "/sockets/leave", |p, c, r| {
        join(p, c, r, false, Caller::Socket)
    });
    add(router, Method::Post, "/sockets/broadcast", |p, c, r| {
        broadcast(p, c, r, Caller::Socket)
    });
    add(router, Method::Post, "/sockets/blast", |p, c, r| {
        blast(p, c, r, Caller::Socket)
    });
    add(router, Method::Post, "/sockets/emit", emit);
    add(router, Method::Post, "/sockets/leave-all", leave_all);
    add(
        router,
        Method::Post,
        "/sockets/add-room-members-to-rooms",
        |p, c, r| room_to_rooms(p, c, r, true),
    );
    add(
        router,
        Method::Post,
        "/sockets/remove-room-members-from-rooms",
        |p, c, r| room_to_rooms(p, c, r, false),
    );
    add(
        router,
        Method::Post,
        "/pubsub/:model/subscribe",
        |p, c, r| subscribe(p, c, r, true),
    );
    add(
        router,
        Method::Post,
        "/pubsub/:model/unsubscribe",
        |p, c, r| subscribe(p, c, r, false),
    );
    add(router, Method::Post, "/pubsub/:model/watch", |p, c, r| {
        watch(p, c, r, true)
    });
    add(router, Method::Post, "/pubsub/:model/unwatch", |p, c, r| {
        watch(p, c, r, false)
    });
    add(router, Method::Post, "/pubsub/:model/message", |p, c, r| {
        message(p, c, r, Caller::Socket)
    });
    add(router, Method::Post, "/pubsub/:model/publish", |p, c, r| {
        publish(p, c, r, Caller::Socket)
    });
}

fn get_id(_: &Policy, ctx: &mut Context<'_>, _: &Request) -> Outcome {
    let id = requester(ctx)?;
    Ok(Response::ok(json!({"id": id.to_string()})))
}

pub(super) fn join(
    policy: &Policy,
    ctx: &mut Context<'_>,
    req: &Request,
    join: bool,
    caller: Caller,
) -> Outcome {
    allow(policy.join, if join { "join" } else { "leave" })?;
    let f = Fields::of(req)?;
    let room = f.string("room")?;
    let targets: Vec<SocketId> = if caller == Caller::Admin && f.get("socketIds").is_some() {
        f.names("socketIds")?
            .into_iter()
            .map(|t| t.parse().map_err(|e| Response::from_core_error(&e)))
            .collect::<Result<_, _>>()?
    } else {
        vec![target_socket(ctx, &f, policy)?]
    };
    check_rooms(ctx, policy, &[room])?;
    let unknown = if join {
        ctx.shard.join(targets.as_slice(), room)?
    } else {
        ctx.shard.leave(targets.as_slice(), room)?
    };
    unknown_or_ok(&unknown)
}

pub(super) fn broadcast(
    policy: &Policy,
    ctx: &mut Context<'_>,
    req: &Request,
    caller: Caller,
) -> Outcome {
    allow(policy.broadcast, "broadcast")?;
    let f = Fields::of(req)?;
    let rooms = f.names("rooms")?;
    let frame = event_frame(ctx, &f)?;
    let omit = omit(ctx, &f, caller)?;
    check_rooms(ctx, policy, &rooms)?;
    ctx.shard.broadcast_frame(&rooms, &frame, omit)?;
    ok()
}

pub(super) fn blast(
    policy: &Policy,
    ctx: &mut Context<'_>,
    req: &Request,
    caller: Caller,
) -> Outcome {
    allow(policy.blast, "blast")?;
    let f = Fields::of(req)?;
    let frame = event_frame(ctx, &f)?;
    let omit = omit(ctx, &f, caller)?;
    ctx.shard.blast_frame(&frame, omit);
    ok()
}

pub(super) fn emit(policy: &Policy, ctx: &mut Context<'_>, req: &Request) -> Outcome {
    allow(policy.emit, "emit")?;
    let f = Fields::of(req)?;
    let ids = f.names("socketIds")?;
    let frame = event_frame(ctx, &f)?;
    ctx.shard.emit_frame(&ids, &frame)?;
    ok()
}

pub(super) fn leave_all(policy: &Policy, ctx: &mut Context<'_>, req: &Request) -> Outcome {
    allow(policy.leave_all, "leave-all")?;
    let f = Fields::of(req)?;
    let room = f.string("room")?;
    let options = LeaveAllOptions {
        include_socket_rooms: f.flag("includeSocketRooms", false)?,
        include_source_room: f.flag("includeSourceRoom", true)?,
    };
    check_rooms(ctx, policy, &[room])?;
    ctx.shard.leave_all(room, options)?;
    ok()
}

pub(super) fn room_to_rooms(
    policy: &Policy,
    ctx: &mut Context<'_>,
    req: &Request,
    add: bool,
) -> Outcome {
    allow(
        policy.room_to_rooms,
        if add {
            "add-room-members-to-rooms"
        } else {
            "remove-room-members-from-rooms"
        },
    )?;
    let f = Fields::of(req)?;
    let source = f.string("sourceRoom")?;
    let dests = f.names("destRooms")?;
    check_rooms(ctx, policy, &[source])?;
    check_rooms(ctx, policy, &dests)?;
    if add {
        ctx.shard.add_room_members_to_rooms(source, &dests)?;
    } else {
        ctx.shard.remove_room_members_from_rooms(source, &dests)?;
    }
    ok()
}

pub(super) fn subscribe(
    policy: &Policy,
    ctx: &mut Context<'_>,
    req: &Request,
    sub: bool,
) -> Outcome {
    allow(
        policy.pubsub_subscribe,
        if sub { "subscribe" } else { "unsubscribe" },
    )?;
    let f = Fields::of(req)?;
    let ids = f.record_ids("ids")?;
    let target = target_socket(ctx, &f, policy)?;
    let mut model = model(ctx, req)?;
    let unknown = if sub {
        model.subscribe(target, &ids)?
    } else {
        model.unsubscribe(target, &ids)?
    };
    unknown_or_ok(&unknown)
}

pub(super) fn watch(policy: &Policy, ctx: &mut Context<'_>, req: &Request, watch: bool) -> Outcome {
    allow(
        policy.pubsub_subscribe,
        if watch { "watch" } else { "unwatch" },
    )?;
    let f = Fields::of(req)?;
    let target = target_socket(ctx, &f, policy)?;
    let mut model = model(ctx, req)?;
    let unknown = if watch {
        model.watch(target)?
    } else {
        model.unwatch(target)?
    };
    unknown_or_ok(&unknown)
}

pub(super) fn message(
    policy: &Policy,
    ctx: &mut Context<'_>,
    req: &Request,
    caller: Caller,
) -> Outcome {
    allow(policy.pubsub_message, "message")?;
    let f = Fields::of(req)?;
    let id = RecordId::from_json(f.required("id")?)
        .map_err(|e| Response::bad_request(&format!("`id`: {e}")))?;
    let omit = omit(ctx, &f, caller)?;
    model(ctx, req)?.message(&id, f.data(), omit)?;
    ok()
}

pub(super) fn publish(
    policy: &Policy,
    ctx: &mut Context<'_>,
    req: &Request,
    caller: Caller,
) -> Outcome {
    allow(policy.pubsub_publish, "publish")?;
    let f = Fields::of(req)?;
    let ids = f.record_ids("ids")?;
    let omit = omit(ctx, &f, caller)?;
    model(ctx, req)?.publish(&ids, f.data(), omit)?;
    ok()
}
