//! What a Socket.IO session's events do on the server: a CONNECT goes through
//! the namespace's hook, a virtual request through the router (its ack follows
//! whatever the route broadcast), a custom event through its handler, and a
//! `41` on `/` takes the socket out of every room. The session's close is the
//! connection's business (`connection.rs`).

use roomcast::SocketId;

use super::env::{AnswerTo, Env};
use crate::access::webhook::{self, Decision};
use crate::access::Verdict;
use crate::handler::{ConnectContext, EventContext};
use crate::protocol::eio::EioVersion;
use crate::protocol::sio::{
    ack_payload, parse_virtual_request, CloseReason, EventName, Method, Response, Session,
    SessionEvent,
};

use crate::router::Context;

/// Acts on one session event other than `Close`.
pub(crate) fn handle(event: SessionEvent, id: SocketId, session: &mut Session, env: &mut Env<'_>) {
    match event {
        SessionEvent::ConnectRequest { nsp, auth } => {
            connect(&nsp, auth.as_str(), id, session, env)
        }
        SessionEvent::Event {
            nsp,
            name,
            args,
            ack_id,
            attachments,
        } => {
            let method = match &name {
                EventName::Str(s) if nsp == "/" => Method::from_event(s),
                _ => None,
            };
            if let (Some(_), EventName::Str(event)) = (method, &name) {
                virtual_request(event, args.as_str(), ack_id, &nsp, id, session, env);
                return;
            }
            let Some(handler) = env
                .app
                .event_handlers
                .get(&(nsp.clone(), name.as_str().to_owned()))
            else {
                tracing::trace!(socket = %id, %nsp, name = name.as_str(), "event without a handler");
                return;
            };
            let mut ctx = EventContext {
                shard: env.shard,
                engine: env.engine,
                session,
                socket: id,
                nsp: &nsp,
                name: name.as_str(),
                args: args.as_str(),
                attachments: &attachments,
                ack_attachments: Vec::new(),
            };
            let result = handler(&mut ctx);
            let ack_attachments = std::mem::take(&mut ctx.ack_attachments);
            if let Some(ack) = ack_id {
                let args = result.as_deref().unwrap_or("[]");
                if let Err(e) = session.ack(&nsp, ack, args, &ack_attachments) {
                    tracing::warn!(socket = %id, %nsp, "handler ack failed: {e}");
                    let _ = session.ack(&nsp, ack, "[]", &[]);
                }
            }
        }
        // roomcast sends events with an ack id only for socket.io's
        // broadcasts with acks (a mixed cluster): the cluster forwards the ack.
        SessionEvent::Ack {
            nsp,
            id: ack,
            args,
            attachments,
        } => {
            if let (Some(cluster), "/") = (&env.app.cluster, nsp.as_str()) {
                cluster.client_ack(ack, args.get(0).unwrap_or("null"), attachments);
            }
        }
        SessionEvent::Close { .. } => {}
        SessionEvent::Disconnect { nsp } => {
            if nsp == "/" {
                // As in socket.io, the socket leaves every room (its own id room
                // too) and is no longer reached by blasts; the connection stays
                // open and a new CONNECT to `/` activates it again.
                env.shard.deactivate(id);
            }
        }
    }
}

fn connect(nsp: &str, auth: &str, id: SocketId, session: &mut Session, env: &mut Env<'_>) {
    if !env.app.namespaces.contains(nsp) {
        tracing::debug!(socket = %id, %nsp, "CONNECT to an unknown namespace");
        let _ = session.refuse(nsp, "Invalid namespace", None);
        return;
    }
    if env.app.access.tokens.is_some() && !token_checked(nsp, auth, id, session, env) {
        return;
    }
    if env.app.webhook.is_some() {
        ask_webhook(nsp, auth, id, session, env);
        return;
    }
    admit(nsp, auth, id, session, env);
}

/// The CONNECT passed the access rules: the namespace's hook decides.
/// Returns whether the socket was admitted.
fn admit(nsp: &str, auth: &str, id: SocketId, session: &mut Session, env: &mut Env<'_>) -> bool {
    let mut ctx = ConnectContext {
        shard: env.shard,
        socket: id,
        nsp,
        auth,
        emits: Vec::new(),
    };
    let verdict = match env.app.connect_hooks.get(nsp) {
        Some(hook) => hook(&mut ctx),
        None => Ok(()),
    };
    let emits = std::mem::take(&mut ctx.emits);
    match verdict {
        Err((message, data)) => {
            tracing::debug!(socket = %id, %nsp, %message, "CONNECT refused");
            if session.refuse(nsp, &message, data.as_deref()).is_err() {
                let _ = session.refuse(nsp, &message, None);
            }
            false
        }
        Ok(()) => {
            if nsp == "/" {
                env.shard.activate(id);
            }
            if session.accept(nsp, &id.to_string()).is_err() {
                return false;
            }
            for (name, args) in emits {
                if let Err(e) = session.emit(nsp, &name, &args, None, &[]) {
                    tracing::warn!(socket = %id, %name, "connect emit failed: {e}");
                }
            }
            true
        }
    }
}

fn virtual_request(
    event: &str,
    args: &str,
    ack_id: Option<u64>,
    nsp: &str,
    id: SocketId,
    session: &mut Session,
    env: &mut Env<'_>,
) {
    // Every call counts against the client's rate, answered or not.
    let verdict = env.access.call(id, env.now);
    let Some(ack) = ack_id else {
        match verdict {
            Verdict::Allow => {
                tracing::debug!(socket = %id, "virtual request without an ack id");
                let _ = session.emit(
                    nsp,
                    "sails:parseError",
                    r#"["Could not parse request: a virtual request must carry an ack id (callback)"]"#,
                    None,
                    &[],
                );
            }
            // Over the rate: nothing to answer with a 429.
            Verdict::Limit => env.metrics.access_refusal("rate_limited"),
            Verdict::Disconnect => disconnect_abuser(id, session, env),
        }
        return;
    };
    let (answers, key) = (env.answers, env.key);
    let poll = env.poll;
    let later = || {
        let to = match poll {
            Some(socket) => AnswerTo::PollAck {
                socket,
                nsp: nsp.to_owned(),
                id: ack,
            },
            None => AnswerTo::Ack {
                nsp: nsp.to_owned(),
                id: ack,
            },
        };
        answers.later(key, to)
    };
    match verdict {
        Verdict::Allow => {}
        Verdict::Limit => {
            env.metrics.access_refusal("rate_limited");
            let limit = env.app.access.ops_per_sec.unwrap_or_default();
            let response = Response::error(
                429,
                "E_RATE_LIMITED",
                &format!("more than {limit} socket-route calls a second (client_ops_per_sec)"),
            );
            if let Err(e) = session.ack(nsp, ack, &ack_payload(&response), &[]) {
                tracing::warn!(socket = %id, "cannot ack a virtual request: {e}");
            }
            return;
        }
        Verdict::Disconnect => return disconnect_abuser(id, session, env),
    }
    let response = match parse_virtual_request(event, args) {
        Ok(req) => {
            let rooms = env.access.grant(id).and_then(|g| g.rooms.as_deref());
            let mut ctx = Context::new(env.shard, Some(id))
                .with_later(&later)
                .with_room_grant(rooms);

            let response = env.app.router.dispatch(&mut ctx, req);
            if ctx.room_refused() {
                env.metrics.access_refusal("room_forbidden");
            }
            if ctx.is_deferred() {
                return; // acked when the answer comes (`Connection::on_ack`)
            }
            response
        }
        Err(resp) => resp,
    };
    if let Err(e) = session.ack(nsp, ack, &ack_payload(&response), &[]) {
        tracing::warn!(socket = %id, "cannot ack a virtual request: {e}");
    }
}

/// A client far over its rate for 10 s: disconnected.
fn disconnect_abuser(id: SocketId, session: &mut Session, env: &mut Env<'_>) {
    env.metrics.access_refusal("rate_abuse");
    if env.log_limit.allow(env.now) {
        tracing::info!(socket = %id, "disconnecting a client far over its rate");
    }
    session.end(CloseReason::PolicyClose(
        "over ten times client_ops_per_sec for 10 s",
    ));
}

/// With tokens required: checks the CONNECT's token (v4: the auth object's
/// `token`, else the handshake's `?token=`; v3: verified at the handshake)
/// and applies it — the socket's user, its rooms, its expiry. A v4 CONNECT
/// without a valid token is refused with CONNECT_ERROR `unauthorized`.
/// Returns whether the CONNECT may go on.
fn token_checked(
    nsp: &str,
    auth: &str,
    id: SocketId,
    session: &mut Session,
    env: &mut Env<'_>,
) -> bool {
    let Some(tokens) = &env.app.access.tokens else {
        return true;
    };
    let Some(state) = env.access.get_mut(id) else {
        return true; // not a socket of this worker's table: cannot happen
    };
    let grant = if session.version() == EioVersion::V4 {
        let from_auth = auth_token(auth);
        let token = from_auth.as_deref().or(state.query_token.as_deref());
        match tokens.verify(token) {
            Ok(grant) => grant,
            Err(why) => {
                env.metrics.access_refusal(why.label());
                if env.log_limit.allow(env.now) {
                    tracing::info!(socket = %id, %nsp, "CONNECT refused: {}", why.label());
                }
                let _ = session.refuse(nsp, "unauthorized", None);
                return false;
            }
        }
    } else {
        match &state.grant {
            Some(g) => g.clone(),
            None => {
                let _ = session.refuse(nsp, "unauthorized", None);
                return false;
            }
        }
    };
    let expiry = grant.expires_at_s.map(|at_s| {
        let left_ms = at_s
            .saturating_mul(1000)
            .saturating_sub(crate::access::unix_now_ms());
        env.now.saturating_add(left_ms)
    });
    session.set_expiry(expiry);
    env.shard
        .set_user(id, grant.user.as_deref().map(Into::into));
    state.grant = Some(grant);
    true
}

/// The `token` string of a CONNECT auth object, if it has one.
fn auth_token(auth: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Auth {
        token: Option<String>,
    }
    serde_json::from_str::<Auth>(auth).ok()?.token
}

/// With a connect webhook: asks it (on its own threads); the decision comes
/// back to this worker as an answer ([`connect_decided`]). A full webhook
/// queue refuses at once.
fn ask_webhook(nsp: &str, auth: &str, id: SocketId, session: &mut Session, env: &mut Env<'_>) {
    let Some(pool) = &env.app.webhook else {
        return;
    };
    let handshake = env
        .access
        .get_mut(id)
        .and_then(|a| a.handshake.as_deref().cloned())
        .unwrap_or_default();
    let body = webhook::request_body(nsp, auth, &handshake);
    let sink = env.answers.clone();
    let to = AnswerTo::Connect {
        socket: id,
        nsp: nsp.to_owned(),
        auth: auth.to_owned(),
    };
    let key = env.key;
    if let Err(decision) = pool.call(body, move |d| sink.send_to(key, to, decision_response(d))) {
        connect_decided(nsp, auth, &decision_response(decision), id, session, env);
    }
}

/// A webhook decision as an answer: 200 `{"rooms", "data"}` to admit, else
/// 403 with the refusal's reason as the code and its message.
fn decision_response(d: Decision) -> Response {
    match d {
        Decision::Allow { rooms, data } => Response::ok(serde_json::json!({
            "rooms": rooms,
            "data": data,
        })),
        Decision::Refuse { message, reason } => Response::error(403, reason, &message),
    }
}

/// The connect webhook decided about socket `id`'s CONNECT to `nsp`: admit
/// it (the namespace's hook still has its say) and join it to the rooms the
/// webhook named, or refuse it with the webhook's message.
pub(crate) fn connect_decided(
    nsp: &str,
    auth: &str,
    decision: &Response,
    id: SocketId,
    session: &mut Session,
    env: &mut Env<'_>,
) {
    if session.is_closed() {
        return;
    }
    if decision.status != 200 {
        let reason = match decision.body["error"].as_str() {
            Some("webhook_timeout") => "webhook_timeout",
            Some("webhook_error") => "webhook_error",
            Some("webhook_busy") => "webhook_busy",
            _ => "webhook_refused",
        };
        env.metrics.access_refusal(reason);
        let message = decision.body["message"].as_str().unwrap_or("refused");
        tracing::debug!(socket = %id, %nsp, %message, "CONNECT refused by the connect webhook");
        let _ = session.refuse(nsp, message, None);
        return;
    }
    if !admit(nsp, auth, id, session, env) {
        return;
    }
    let rooms = decision.body["rooms"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for room in rooms.iter().filter_map(|r| r.as_str()) {
        if let Err(e) = env.shard.join(id, room) {
            tracing::warn!(socket = %id, %room, "cannot join a room the connect webhook named: {e}");
        }
    }
    if let Some(data) = decision.body["data"].as_str() {
        env.shard.set_data(id, Some(data.into()));
    }
}
