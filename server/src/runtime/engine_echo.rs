//! [`EngineEcho`]: a bare Engine.IO session (no Socket.IO) that sends back every
//! message it receives — what the Engine.IO conformance suite expects of its test
//! server. Sans-IO like [`crate::session::Session`], with the same heartbeat rules
//! (v4: the server pings; v3: the client pings and is answered).

use std::collections::VecDeque;

use bytes::Bytes;

use crate::eio::{self, EioVersion, OpenPacket, Packet, WsMessage};

/// One echo session; see the module docs.
#[derive(Debug)]
pub(crate) struct EngineEcho {
    version: EioVersion,
    b64: bool,
    ping_interval: u64,
    ping_timeout: u64,
    /// v4: next ping time, or the pong deadline while a ping is outstanding.
    next_ping: Option<u64>,
    pong_deadline: Option<u64>,
    /// v3: the client must ping by then.
    client_deadline: u64,
    transmits: VecDeque<WsMessage>,
    closed: Option<String>,
}

impl EngineEcho {
    /// Starts a session at `now` and queues the open packet.
    pub(crate) fn new(
        version: EioVersion,
        sid: &str,
        b64: bool,
        now: u64,
        ping_interval: u64,
        ping_timeout: u64,
        max_payload: u64,
    ) -> EngineEcho {
        let open = eio::encode_open(&OpenPacket {
            sid,
            ping_interval,
            ping_timeout,
            max_payload,
        });
        EngineEcho {
            version,
            b64,
            ping_interval,
            ping_timeout,
            next_ping: Some(now.saturating_add(ping_interval)),
            pong_deadline: None,
            client_deadline: now
                .saturating_add(ping_interval)
                .saturating_add(ping_timeout),
            transmits: VecDeque::from([WsMessage::Text(open)]),
            closed: None,
        }
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<WsMessage> {
        self.transmits.pop_front()
    }

    /// Why the session ended, once it has.
    pub(crate) fn closed(&self) -> Option<&str> {
        self.closed.as_deref()
    }

    pub(crate) fn close(&mut self, reason: &str) {
        if self.closed.is_none() {
            self.closed = Some(reason.to_owned());
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<u64> {
        if self.closed.is_some() {
            return None;
        }
        match self.version {
            EioVersion::V4 => self.pong_deadline.or(self.next_ping),
            EioVersion::V3 => Some(self.client_deadline),
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: u64) {
        if self.closed.is_some() {
            return;
        }
        match self.version {
            EioVersion::V4 => {
                if self.pong_deadline.is_some_and(|d| now >= d) {
                    self.close("ping timeout");
                } else if self.pong_deadline.is_none() && self.next_ping.is_some_and(|p| now >= p) {
                    self.next_ping = None;
                    self.pong_deadline = Some(now.saturating_add(self.ping_timeout));
                    self.transmits.push_back(WsMessage::Text(eio::PING.into()));
                }
            }
            EioVersion::V3 => {
                if now >= self.client_deadline {
                    self.close("ping timeout");
                }
            }
        }
    }

    pub(crate) fn handle_text(&mut self, text: &str, now: u64) {
        if self.closed.is_some() {
            return;
        }
        match eio::decode_text(self.version, text) {
            Err(e) => self.close(&format!("parse error: {e}")),
            Ok(Packet::Message(data)) => self
                .transmits
                .push_back(WsMessage::Text(eio::encode_message(data))),
            Ok(Packet::Binary(b)) => self.echo_binary(Bytes::from(b.into_owned())),
            Ok(Packet::Ping(data)) => match self.version {
                EioVersion::V4 => self.close("invalid heartbeat direction"),
                EioVersion::V3 => {
                    self.client_deadline = now
                        .saturating_add(self.ping_interval)
                        .saturating_add(self.ping_timeout);
                    self.transmits
                        .push_back(WsMessage::Text(format!("3{data}")));
                }
            },
            Ok(Packet::Pong(_)) => {
                if self.version == EioVersion::V4 {
                    self.pong_deadline = None;
                    self.next_ping = Some(now.saturating_add(self.ping_interval));
                }
            }
            Ok(Packet::Close(_)) => self.close("client sent close packet"),
            Ok(Packet::Open(_) | Packet::Upgrade(_) | Packet::Noop(_)) => {}
        }
    }

    pub(crate) fn handle_binary(&mut self, data: Bytes) {
        if self.closed.is_some() {
            return;
        }
        match self.version {
            EioVersion::V4 => self.echo_binary(data),
            EioVersion::V3 => match eio::decode_binary(EioVersion::V3, &data) {
                Ok(_) => self.echo_binary(data.slice(1..)),
                Err(e) => self.close(&format!("parse error: {e}")),
            },
        }
    }

    fn echo_binary(&mut self, payload: Bytes) {
        self.transmits
            .push_back(eio::encode_binary(self.version, self.b64, &payload));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_and_pings() {
        let mut e = EngineEcho::new(EioVersion::V4, "SID", false, 0, 100, 50, 1000);
        assert!(
            matches!(e.poll_transmit(), Some(WsMessage::Text(t)) if t.starts_with("0{\"sid\":\"SID\""))
        );
        e.handle_text("4hello", 1);
        assert_eq!(e.poll_transmit(), Some(WsMessage::Text("4hello".into())));
        e.handle_binary(Bytes::from_static(&[1, 2, 3]));
        assert_eq!(
            e.poll_transmit(),
            Some(WsMessage::Binary(Bytes::from_static(&[1, 2, 3])))
        );
        assert_eq!(e.next_deadline(), Some(100));
        e.handle_timeout(100);
        assert_eq!(e.poll_transmit(), Some(WsMessage::Text("2".into())));
        e.handle_timeout(150);
        assert_eq!(e.closed(), Some("ping timeout"));
    }

    #[test]
    fn v3_answers_pings() {
        let mut e = EngineEcho::new(EioVersion::V3, "SID", false, 0, 100, 50, 1000);
        let _ = e.poll_transmit();
        e.handle_text("2probe", 10);
        assert_eq!(e.poll_transmit(), Some(WsMessage::Text("3probe".into())));
        assert_eq!(e.next_deadline(), Some(160));
        e.handle_text("abc", 11);
        assert!(e.closed().is_some());
    }
}
