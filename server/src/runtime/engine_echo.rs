//! The bare Engine.IO echo (test support, feature `engine-echo`): an Engine.IO
//! session with no Socket.IO above it that sends every message back — what the
//! Engine.IO conformance suite expects of its test server. It reuses the real
//! Engine.IO session (handshake, heartbeats, close); only the echo is here.

use roomcast::SocketId;

use super::env::Env;
use crate::protocol::eio::{
    encode_binary, encode_message, EioConfig, EioEvent, Session, WsMessage,
};
use crate::protocol::http::{Classified, SocketIoUpgrade};
use crate::protocol::sio::{SessionConfig, SessionEvent};

/// The upgrade, if `c` is a request on the echo's path; else `c` back.
pub(super) fn classify(c: Classified, env: &Env<'_>) -> Result<Box<SocketIoUpgrade>, Classified> {
    let Some(h) = &env.app.echo_handshake else {
        return Err(c);
    };
    let req = match c {
        Classified::Http(req) | Classified::Upgrade(req, _) if h.is_socket_io_path(&req.path) => {
            *req
        }
        other => return Err(other),
    };
    match h.classify(req) {
        Classified::SocketIo(up) => Ok(up),
        other => Err(other),
    }
}

/// The echo's Engine.IO session for an accepted upgrade.
pub(super) fn session(up: &SocketIoUpgrade, s: &SessionConfig, sid: String, now: u64) -> Session {
    let config = EioConfig {
        ping_interval: s.ping_interval,
        ping_timeout: s.ping_timeout,
        max_payload: s.max_payload,
    };
    Session::new(up.version, config, sid, up.b64, now)
}

/// Sends every message back; the session's close reads as a Socket.IO session
/// close for the connection.
pub(super) fn pump(
    e: &mut Session,
    id: SocketId,
    open: bool,
    env: &mut Env<'_>,
) -> Option<SessionEvent> {
    loop {
        while let Some(msg) = e.poll_transmit() {
            if open {
                env.shard.send(id, msg.into_ws_frame());
            }
        }
        match e.poll_event()? {
            EioEvent::Message(WsMessage::Text(t)) => {
                let _ = e.send(WsMessage::Text(encode_message(&t)));
            }
            EioEvent::Message(WsMessage::Binary(b)) => {
                let _ = e.send(encode_binary(e.version(), e.b64(), &b));
            }
            EioEvent::Close(reason) => {
                return Some(SessionEvent::Close {
                    reason: reason.into(),
                })
            }
        }
    }
}
