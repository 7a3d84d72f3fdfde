//! Engine.IO HTTP long-polling (`transport=polling`): what each polling request
//! does to its session ([`PollTable`]), and how a parked GET is answered.
//!
//! * **Handshake** — `GET ?EIO=…&transport=polling` without `sid`: a socket
//!   opens in the worker's shard, a Socket.IO session starts (its open packet
//!   offers `"upgrades":["websocket"]` when WebSocket is on), and the GET parks
//!   on it: it is answered with the open packet (v3: and `40`) at the end of
//!   the tick.
//! * **Poll** — `GET` with `sid`: parks until the session has frames (at the
//!   latest its next ping, `ping_interval`), then gets all of them as one
//!   payload. A second GET while one is parked is an error that ends the
//!   session (as engine.io: 400, and the first GET gets the close packet).
//! * **Packets** — `POST` with `sid`: the body (at most `max_payload` bytes,
//!   else 413 and the session ends) is decoded as a payload and each packet
//!   handed to the session, exactly as WebSocket messages are; answered `ok`. A
//!   malformed payload is 400 and ends the session.
//! * **Answers** go through the shard like everything else a socket receives
//!   (the session's packets, broadcasts, emits, acks): the shard's writer hands
//!   a polling socket's pending frames to its parked GET ([`answer`]), unframed
//!   and encoded as a payload — so a polling client gets the same encode-once
//!   frames, in the same order, and a slow one hits the same outbound limit.
//! * **Close** — as engine.io: a GET parked on the session gets what is
//!   pending and the close packet `1` (a noop `6` when the client itself sent
//!   `1`), and the session is gone; with no GET parked it is gone at once. A
//!   request naming it afterwards is `Session ID unknown`.
//! * **Upgrade** — see [`probe`]: a WebSocket carrying the `sid` probes
//!   (`2probe`/`3probe`), the parked GET is released with a noop `6`, and on
//!   `5` the session moves onto the WebSocket connection; frames still pending
//!   go to the WebSocket, in order, none lost or doubled.

use std::io::IoSlice;

use roomcast::{wire, CloseCause, SocketId};

use super::admission::{self, Admitted};
use super::env::Env;

use super::poll_table::{ParkedGet, PollSession};
use super::session_events;
use crate::protocol::eio::payload::{self, Item};
use crate::protocol::eio::{EioVersion, WsMessage};
use crate::protocol::http::{http_response, EngineErrorCode, PollingRequest};
use crate::protocol::sio::{CloseReason, Response, Session, SessionEvent};

/// The close packet.
const CLOSE: &str = "1";
/// The noop packet that releases a parked GET during an upgrade.
pub(crate) const NOOP: &str = "6";

/// The socket a `sid` names, if it may be a session of this node.
pub(crate) fn session_socket(sid: &str, env: &Env<'_>) -> Option<SocketId> {
    SocketId::parse(sid).filter(|id| id.node() == env.engine.node())
}

/// The handshake: a new session (its socket returned) with this GET parked on
/// it.
///
/// # Errors
///
/// The answer to send instead (server full: 503).
pub(crate) fn handshake(
    req: &PollingRequest,
    admitted: Admitted,
    env: &mut Env<'_>,
) -> Result<SocketId, Vec<u8>> {
    let cors = env.app.cors.headers(&req.request);
    let id = match env.shard.open() {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(worker = env.worker, "refusing polling session: {e}");
            let body = Response::error(503, "E_UNAVAILABLE", "server full");
            return Err(json(&body, &cors, false));
        }
    };
    admission::opened(id, admitted, env);
    env.stats
        .upgraded
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let session = Session::open(
        req.version,
        env.app.session.clone(),
        id.to_string(),
        req.b64,
        env.now,
        env.app.handshake.transports.websocket,
    );
    let mut ps = Box::new(PollSession::new(id, session, req.version, req.b64));
    ps.get = Some(parked(req, env));
    tracing::debug!(worker = env.worker, socket = %id, version = ?req.version, "polling session opened");
    pump(&mut ps, env);
    env.polls.insert(ps);
    Ok(id)
}

fn parked(req: &PollingRequest, env: &Env<'_>) -> ParkedGet {
    ParkedGet {
        key: env.key,
        cors: env.app.cors.allowed(&req.request).map(str::to_owned),
        keep_alive: req.request.keep_alive(),
    }
}

/// A poll: parks this GET on session `id`.
///
/// # Errors
///
/// The answer to send instead: unknown session (code 1), another protocol
/// version (code 3), a GET already parked (code 3; the session ends).
pub(crate) fn poll(req: &PollingRequest, id: SocketId, env: &mut Env<'_>) -> Result<(), Vec<u8>> {
    let cors = env.app.cors.headers(&req.request);
    let keep_alive = req.request.keep_alive();
    let Some(mut ps) = env.polls.take(id) else {
        return Err(EngineErrorCode::SessionIdUnknown.response(&cors, keep_alive));
    };
    if ps.version != req.version {
        put_back(ps, env);
        return Err(EngineErrorCode::BadRequest.response(&cors, keep_alive));
    }
    if ps.get.is_some() {
        // As engine.io: overlapping polls end the session.
        if env.log_limit.allow(env.now) {
            tracing::info!(socket = %id, "polling: a second GET while one is parked; closing the session");
        }
        env.metrics.protocol_error("engine_io");
        ps.session.close();
        pump(&mut ps, env);
        put_back(ps, env);
        return Err(EngineErrorCode::BadRequest.response(&cors, keep_alive));
    }
    ps.get = Some(parked(req, env));
    if ps.probe.is_some() {
        // Upgrading: the client must not wait on this poll.
        env.shard
            .send(id, WsMessage::Text(NOOP.to_owned()).into_ws_frame());
    }
    env.poll_flush.push(id);
    put_back(ps, env);
    Ok(())
}

/// Packets from the client: the answer.
pub(crate) fn post(req: &PollingRequest, id: SocketId, body: &[u8], env: &mut Env<'_>) -> Vec<u8> {
    let cors = env.app.cors.headers(&req.request);
    let keep_alive = req.request.keep_alive();
    let Some(mut ps) = env.polls.take(id) else {
        return EngineErrorCode::SessionIdUnknown.response(&cors, keep_alive);
    };
    if ps.version != req.version || ps.closing.is_some() {
        let code = if ps.closing.is_some() {
            EngineErrorCode::SessionIdUnknown
        } else {
            EngineErrorCode::BadRequest
        };
        put_back(ps, env);
        return code.response(&cors, keep_alive);
    }
    let binary = req
        .request
        .header("content-type")
        .is_some_and(|t| t.trim().starts_with("application/octet-stream"));
    let answer = match payload::decode(ps.version, binary, body) {
        Ok(packets) => {
            for p in packets {
                match p {
                    payload::Inbound::Text(t) => ps.session.handle_text(&t, env.now),
                    payload::Inbound::Binary(b) => ps.session.handle_binary(b, env.now),
                }
                // Events in order, between packets (a packet may close).
                pump(&mut ps, env);
            }
            ok(&cors, keep_alive)
        }
        Err(e) => {
            env.metrics.protocol_error("engine_io");
            if env.log_limit.allow(env.now) {
                tracing::info!(socket = %id, "polling: bad payload ({e}); closing the session");
            }
            ps.session.close();
            pump(&mut ps, env);
            let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
            headers.extend(cors.iter().map(|(n, v)| (*n, v.as_str())));
            let body = serde_json::json!({"code": 3, "message": format!("Bad request: {e}")});
            http_response(400, &headers, body.to_string().as_bytes(), keep_alive)
        }
    };
    put_back(ps, env);
    answer
}

/// A POST body over `max_payload`: 413, and the session ends.
pub(crate) fn too_large(req: &PollingRequest, id: SocketId, env: &mut Env<'_>) -> Vec<u8> {
    let cors = env.app.cors.headers(&req.request);
    if let Some(mut ps) = env.polls.take(id) {
        ps.session.close();
        pump(&mut ps, env);
        put_back(ps, env);
    }
    env.metrics.protocol_error("engine_io");
    let body = Response::error(
        413,
        "E_TOO_LARGE",
        &format!(
            "payload larger than {} bytes (max_payload)",
            env.app.config.max_payload
        ),
    );
    json(&body, &cors, false)
}

/// `ok`, the answer to a POST.
fn ok(cors: &[(&str, String)], keep_alive: bool) -> Vec<u8> {
    let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "text/html; charset=UTF-8")];
    headers.extend(cors.iter().map(|(n, v)| (*n, v.as_str())));
    http_response(200, &headers, b"ok", keep_alive)
}

fn json(resp: &Response, cors: &[(&str, String)], keep_alive: bool) -> Vec<u8> {
    let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
    headers.extend(cors.iter().map(|(n, v)| (*n, v.as_str())));
    http_response(
        resp.status,
        &headers,
        resp.body.to_string().as_bytes(),
        keep_alive,
    )
}

/// Moves the session's packets to the shard and acts on its events, until
/// both are empty.
pub(crate) fn pump(ps: &mut PollSession, env: &mut Env<'_>) {
    loop {
        while let Some(msg) = ps.session.poll_transmit() {
            env.shard.send(ps.id, msg.into_ws_frame());
        }
        match ps.session.poll_event() {
            None => return,
            Some(SessionEvent::Close { reason }) => begin_close(ps, &reason, env),
            Some(event) => {
                let saved = env.poll.replace(ps.id);
                session_events::handle(event, ps.id, &mut ps.session, env);
                env.poll = saved;
            }
        }
    }
}

/// The session ended. With a GET parked, what is pending goes to it, the
/// close packet last (a noop when the client closed), and the session is
/// dropped once that answer is made; without, it is dropped now ([`put_back`]).
fn begin_close(ps: &mut PollSession, reason: &CloseReason, env: &mut Env<'_>) {
    if ps.closing.is_some() {
        return;
    }
    match reason {
        CloseReason::ClosePacket | CloseReason::ServerClose | CloseReason::TransportClose => {
            tracing::debug!(socket = %ps.id, "polling session closing: {reason}");
        }
        _ => {
            if env.log_limit.allow(env.now) {
                tracing::info!(socket = %ps.id, "polling session closing: {reason}");
            }
        }
    }
    ps.closing = Some(env.now + env.app.config.close_timeout_ms);
    if ps.get.is_none() {
        ps.done = true;
        return;
    }
    let last = if matches!(reason, CloseReason::ClosePacket) {
        NOOP
    } else {
        CLOSE
    };
    env.shard
        .send(ps.id, WsMessage::Text(last.to_owned()).into_ws_frame());
    env.shard.seal(ps.id);
    env.poll_flush.push(ps.id);
}

/// Puts a session back in the table, or drops it if it is done.
fn put_back(ps: Box<PollSession>, env: &mut Env<'_>) {
    if ps.done {
        finish(&ps, env);
    } else {
        env.polls.put(ps);
    }
}

/// Drops a session for good: its socket leaves the engine.
pub(crate) fn finish(ps: &PollSession, env: &mut Env<'_>) {
    env.polls.forget(ps);
    env.shard.disconnect(ps.id);
    env.access.forget(ps.id);
}

/// Session `id`'s timer is due.
pub(crate) fn on_timeout(id: SocketId, env: &mut Env<'_>) {
    let Some(mut ps) = env.polls.take(id) else {
        return;
    };
    if ps.closing.is_some_and(|d| d <= env.now) {
        tracing::debug!(socket = %id, "polling session dropped (no GET took its close)");
        finish(&ps, env);
        return;
    }
    ps.session.handle_timeout(env.now);
    pump(&mut ps, env);
    put_back(ps, env);
}

/// A deferred virtual-request answer for session `id`.
pub(crate) fn on_ack(id: SocketId, nsp: &str, ack: u64, response: &Response, env: &mut Env<'_>) {
    let Some(mut ps) = env.polls.take(id) else {
        return;
    };
    let payload = crate::protocol::sio::ack_payload(response);
    if let Err(e) = ps.session.ack(nsp, ack, &payload, &[]) {
        tracing::warn!(socket = %id, "cannot ack a virtual request: {e}");
    }
    pump(&mut ps, env);
    put_back(ps, env);
}

/// The connect webhook decided about session `id`'s CONNECT to `nsp`.
pub(crate) fn on_connect_decided(
    id: SocketId,
    nsp: &str,
    auth: &str,
    decision: &Response,
    env: &mut Env<'_>,
) {
    let Some(mut ps) = env.polls.take(id) else {
        return;
    };
    let saved = env.poll.replace(id);
    session_events::connect_decided(nsp, auth, decision, id, &mut ps.session, env);
    env.poll = saved;
    pump(&mut ps, env);
    put_back(ps, env);
}

/// The shard gave up on session `id`'s socket (slow consumer, disconnected
/// through the engine): it ends now. Returns the parked GET to answer with the
/// close packet ([`close_answer`]), if any, the session's version, and — when
/// disconnected through the engine, as socket.io's `disconnect()` — a
/// Socket.IO DISCONNECT for each namespace, to send before it.
pub(crate) fn on_shard_close(
    id: SocketId,
    cause: CloseCause,
    env: &mut Env<'_>,
) -> Option<(EioVersion, ParkedGet, Vec<String>)> {
    let mut ps = env.polls.take(id)?;
    let mut before = Vec::new();
    match cause {
        CloseCause::SlowConsumer => env.slow_consumer(id, "slow polling consumer"),
        CloseCause::Disconnected => {
            ps.session.disconnect_all();
            while let Some(msg) = ps.session.poll_transmit() {
                if let WsMessage::Text(t) = msg {
                    before.push(t);
                }
            }
        }
    }
    let get = ps.get.take();
    finish(&ps, env);
    get.map(|g| (ps.version, g, before))
}

/// The server is shutting down: a Socket.IO disconnect for each namespace,
/// then the close packet.
pub(crate) fn begin_shutdown(id: SocketId, env: &mut Env<'_>) {
    let Some(mut ps) = env.polls.take(id) else {
        return;
    };
    ps.session.disconnect_all();
    ps.session.close();
    pump(&mut ps, env);
    put_back(ps, env);
}

/// The parked GET `key` of session `id` ended before it was answered (its
/// connection closed): as engine.io, the session ends.
pub(crate) fn get_aborted(id: SocketId, key: super::env::ConnKey, env: &mut Env<'_>) {
    let Some(mut ps) = env.polls.take(id) else {
        return;
    };
    if ps.get.as_ref().is_some_and(|g| g.key == key) {
        ps.get = None;
        tracing::debug!(socket = %id, "polling: the parked GET went away; closing the session");
        ps.session.handle_transport_closed();
        pump(&mut ps, env);
    }
    put_back(ps, env);
}

/// The shard's writer hands session `ps`'s pending frames to its parked
/// `get` (taken off the session by the writer, which gives the answer to the
/// GET's connection): the answer — one payload of them all — and how many
/// bytes that took (every byte offered).
pub(crate) fn answer(
    ps: &mut PollSession,
    get: &ParkedGet,
    bufs: &[IoSlice<'_>],
) -> (Vec<u8>, usize) {
    let mut items: Vec<Item<'_>> = Vec::with_capacity(bufs.len());
    let mut total = 0;
    for buf in bufs {
        total += buf.len();
        match wire::parse_frame(buf) {
            Some((wire::OP_TEXT, p, used)) if used == buf.len() => {
                if let Ok(t) = std::str::from_utf8(p) {
                    items.push(Item::Text(t));
                }
            }
            Some((wire::OP_BINARY, p, used)) if used == buf.len() => items.push(Item::Binary(p)),
            _ => {
                tracing::debug!(socket = %ps.id, "polling: skipped bytes that are not one data frame")
            }
        }
    }
    let enc = payload::encode(ps.version, ps.b64, &items);
    let mut headers: Vec<(&str, String)> = vec![("Content-Type", enc.content_type.to_owned())];
    if let Some(origin) = &get.cors {
        headers.extend(crate::protocol::http::cors::headers_for(origin));
    }
    let refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let out = http_response(200, &refs, &enc.body, get.keep_alive);
    if ps.closing.is_some() {
        ps.done = true;
    }
    (out, total)
}

/// The upgrade, step 1: a WebSocket with `sid` asks to take session `id` over.
///
/// # Errors
///
/// The engine.io error code to refuse it with: unknown or ending session (1),
/// another version, or an upgrade already in progress (3).
pub(crate) fn probe(
    id: SocketId,
    version: EioVersion,
    env: &mut Env<'_>,
) -> Result<(), EngineErrorCode> {
    let ps = env
        .polls
        .get_mut(id)
        .filter(|ps| ps.closing.is_none())
        .ok_or(EngineErrorCode::SessionIdUnknown)?;
    if ps.version != version || ps.probe.is_some() {
        return Err(EngineErrorCode::BadRequest);
    }
    ps.probe = Some(env.key);
    Ok(())
}

/// The upgrade, step 2: the probe `2probe` arrived — a parked GET is released
/// with a noop (through the shard, so it follows what is queued); so is any
/// GET parked until the switch ([`poll`]).
pub(crate) fn probed(id: SocketId, env: &mut Env<'_>) {
    if env.polls.get_mut(id).is_some_and(|ps| ps.get.is_some()) {
        env.shard
            .send(id, WsMessage::Text(NOOP.to_owned()).into_ws_frame());
    }
}

/// The upgrade, step 3: `5` arrived — the session leaves the table for the
/// WebSocket; what is pending for the socket goes to the WebSocket after the
/// drain. Returns the session and the GET still parked (if the client did not
/// wait for its answer: it gets a noop).
pub(crate) fn upgraded(id: SocketId, env: &mut Env<'_>) -> Option<(Session, Option<ParkedGet>)> {
    let mut ps = env.polls.take(id)?;
    if ps.probe != Some(env.key) {
        put_back(ps, env);
        return None;
    }
    env.polls.forget(&ps);
    env.poll_flush.push(id);
    let get = ps.get.take();
    tracing::debug!(socket = %id, "polling session upgraded to WebSocket");
    Some((ps.session, get))
}

/// The probing WebSocket `key` of session `id` went away: polling goes on.
pub(crate) fn probe_gone(id: SocketId, key: super::env::ConnKey, env: &mut Env<'_>) {
    if let Some(ps) = env.polls.get_mut(id) {
        if ps.probe == Some(key) {
            ps.probe = None;
        }
    }
}

/// The answer to a GET whose session ended without it: the packets `before`
/// (Socket.IO DISCONNECTs), then the close packet.
pub(crate) fn close_answer(version: EioVersion, get: &ParkedGet, before: &[String]) -> Vec<u8> {
    let mut items: Vec<Item<'_>> = before.iter().map(|t| Item::Text(t)).collect();
    items.push(Item::Text(CLOSE));
    let enc = payload::encode(version, true, &items);
    let mut headers: Vec<(&str, String)> = vec![("Content-Type", enc.content_type.to_owned())];
    if let Some(origin) = &get.cors {
        headers.extend(crate::protocol::http::cors::headers_for(origin));
    }
    let refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    http_response(200, &refs, &enc.body, get.keep_alive)
}
