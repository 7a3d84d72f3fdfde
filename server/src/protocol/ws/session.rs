//! [`WsSession`]: one WebSocket connection's protocol state, without the socket.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use roomcast::wire::{encode_frame, OP_PONG};

use super::close_code::{encode_close, encode_empty_close, CLOSE_ABNORMAL, CLOSE_NO_STATUS};
use super::{Inbound, MessageDecoder, WsError};

/// The default maximum message size: 1 MiB (Engine.IO's `maxHttpBufferSize` is
/// 1e6 bytes).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 20;

/// Settings of a [`WsSession`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsConfig {
    /// The largest message (all fragments together) accepted, in bytes; larger
    /// ones fail the connection with 1009.
    pub max_message_size: usize,
}

impl Default for WsConfig {
    fn default() -> WsConfig {
        WsConfig {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

/// Where the close handshake stands (RFC 6455 §7). The legal transitions:
///
/// ```text
///  Active ──peer's close──▶ ClosedByPeer       (our reply queued)
///  Active ──close()──────▶ ClosedByUs ──peer's close──▶ CloseAcknowledged
///  Active | ClosedByUs ──protocol error──▶ Failed  (a close frame queued in Active)
///  any ──on_transport_closed()──▶ Terminated
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseState {
    /// Open: messages flow both ways.
    Active,
    /// We sent (queued) a close frame and wait for the peer's; its data frames are
    /// ignored, its pings go unanswered.
    ClosedByUs,
    /// The peer sent a close frame and our reply is queued; nothing more is read.
    ClosedByPeer,
    /// We closed first and the peer answered: the handshake is complete.
    CloseAcknowledged,
    /// The peer broke the protocol; a close frame with the error's code is queued
    /// (unless we had sent ours already) and nothing more is read.
    Failed,
    /// The TCP connection is gone ([`WsSession::on_transport_closed`]).
    Terminated,
}

/// Who started the close handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseInitiator {
    /// The peer sent the first close frame.
    Peer,
    /// We did, through [`WsSession::close`].
    Us,
}

/// What a [`WsSession`] hands to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// A complete text message (valid UTF-8).
    Text(String),
    /// A complete binary message.
    Binary(Bytes),
    /// A ping arrived; the pong is already queued (informational).
    Ping(Bytes),
    /// A pong arrived (informational: a liveness signal).
    Pong(Bytes),
    /// The close handshake was started by the peer (our reply is queued) or
    /// completed after we started it. No event follows.
    Closed {
        /// The peer's code if it started (1005 if its close had no code); our code
        /// if we started; 1006 if the TCP connection ended first
        /// ([`WsSession::on_transport_closed`]).
        code: u16,
        /// The reason that came with `code`.
        reason: String,
        /// Who started the handshake.
        initiator: CloseInitiator,
    },
    /// The peer broke the protocol: the connection is failed with
    /// [`WsError::close_code`] (the close frame is queued). No event follows.
    Failed(WsError),
}

/// One WebSocket connection after the HTTP upgrade, as a sans-IO state machine: it
/// owns the [`MessageDecoder`] and the [`CloseState`], turns the bytes the caller
/// read into [`WsEvent`]s, and queues the bytes the protocol itself must send
/// (pongs, close frames) for the caller to write.
///
/// # The caller's loop
///
/// 1. Append what the socket gave to a per-connection [`BytesMut`].
/// 2. Call [`WsSession::poll_event`] with it until `None`. Before acting on each
///    event, write out everything [`WsSession::poll_transmit`] returns, so that
///    protocol frames keep their order relative to the application's replies.
/// 3. Send application messages while [`WsSession::is_open`], built with
///    `roomcast::wire::encode_frame` (server frames are never masked, so one
///    frame can be shared by every connection).
/// 4. Once [`WsSession::should_close_tcp`] holds and the queued bytes are
///    written, close the TCP connection (shut down writing, then drop it). After
///    [`WsSession::close`] the peer may never answer: arm a timeout.
///
/// Memory: the session holds at most one message (bounded by
/// [`WsConfig::max_message_size`]) plus the protocol frames queued since the caller
/// last drained [`WsSession::poll_transmit`] (one pong per ping consumed).
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use roomcast_server::protocol::ws::{WsConfig, WsEvent, WsSession};
///
/// let mut session = WsSession::new(WsConfig::default());
/// // A masked ping "ab" (key 0) then a masked close 1000.
/// let mut input = BytesMut::from(&[0x89, 0x82, 0, 0, 0, 0, b'a', b'b'][..]);
/// input.extend_from_slice(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8]);
/// assert_eq!(session.poll_event(&mut input), Some(WsEvent::Ping("ab".into())));
/// assert_eq!(session.poll_transmit().as_deref(), Some(&[0x8A, 2, b'a', b'b'][..]));
/// assert!(matches!(session.poll_event(&mut input), Some(WsEvent::Closed { code: 1000, .. })));
/// assert_eq!(session.poll_transmit().as_deref(), Some(&[0x88, 2, 0x03, 0xE8][..]));
/// assert!(session.should_close_tcp());
/// ```
#[derive(Debug)]
pub struct WsSession {
    decoder: MessageDecoder,
    state: CloseState,
    /// The code and reason of the close we sent, while `ClosedByUs`.
    sent_close: Option<(u16, String)>,
    transmit: VecDeque<Bytes>,
}

impl WsSession {
    /// A session for a connection that has just been upgraded.
    #[must_use]
    pub fn new(config: WsConfig) -> WsSession {
        WsSession {
            decoder: MessageDecoder::new(config.max_message_size),
            state: CloseState::Active,
            sent_close: None,
            transmit: VecDeque::new(),
        }
    }

    /// Where the close handshake stands.
    #[must_use]
    pub fn state(&self) -> CloseState {
        self.state
    }

    /// Whether application messages may still be sent (no close sent or received).
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.state == CloseState::Active
    }

    /// Whether the WebSocket is done and the caller should close TCP once the
    /// queued bytes are written: the peer's close was answered, ours was
    /// acknowledged, or the connection failed.
    #[must_use]
    pub fn should_close_tcp(&self) -> bool {
        matches!(
            self.state,
            CloseState::ClosedByPeer
                | CloseState::CloseAcknowledged
                | CloseState::Failed
                | CloseState::Terminated
        )
    }

    /// Whether protocol bytes wait in [`WsSession::poll_transmit`].
    #[must_use]
    pub fn has_transmit(&self) -> bool {
        !self.transmit.is_empty()
    }

    /// The next protocol frame to write (a pong or a close frame), oldest first.
    #[must_use = "queued protocol frames must be written to the peer"]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.pop_front()
    }

    /// Starts the close handshake with `code` and `reason` (e.g. 1001 going away,
    /// 1008 policy, 1009 too big, 1013 try again later, 4000-4999 for the
    /// application): queues the close frame and stops delivering messages. Does
    /// nothing if a close was already sent or received.
    ///
    /// # Errors
    ///
    /// [`WsError::CloseCodeNotSendable`] or [`WsError::CloseReasonTooLong`]
    /// (see [`super::encode_close`]); the session is then unchanged.
    pub fn close(&mut self, code: u16, reason: &str) -> Result<(), WsError> {
        let frame = encode_close(code, reason)?;
        if self.state == CloseState::Active {
            self.transmit.push_back(frame);
            self.state = CloseState::ClosedByUs;
            self.sent_close = Some((code, reason.to_owned()));
        }
        Ok(())
    }

    /// Records that the TCP connection is gone (EOF, reset, or closed by the
    /// caller). Returns [`WsEvent::Closed`] with code 1006 (abnormal closure,
    /// [`CloseInitiator::Peer`]) if the close handshake had not run (`Active` or
    /// `ClosedByUs`), so that every connection ends with exactly one `Closed` or
    /// `Failed` event; `None` if it had already ended.
    pub fn on_transport_closed(&mut self) -> Option<WsEvent> {
        let was = std::mem::replace(&mut self.state, CloseState::Terminated);
        self.transmit.clear();
        match was {
            CloseState::Active | CloseState::ClosedByUs => Some(WsEvent::Closed {
                code: CLOSE_ABNORMAL,
                reason: String::new(),
                initiator: CloseInitiator::Peer,
            }),
            _ => None,
        }
    }

    /// Decodes what the peer sent from the front of `input` (consuming it) and
    /// returns the next event, or `None` when more bytes are needed or nothing
    /// more will be read. Once nothing more will be read (after
    /// [`WsEvent::Closed`] from the peer, a completed handshake or
    /// [`WsEvent::Failed`]), `input` is cleared on every call.
    pub fn poll_event(&mut self, input: &mut BytesMut) -> Option<WsEvent> {
        loop {
            if !matches!(self.state, CloseState::Active | CloseState::ClosedByUs) {
                input.clear();
                return None;
            }
            let inbound = match self.decoder.decode(input) {
                Ok(Some(inbound)) => inbound,
                Ok(None) => return None,
                Err(err) => return Some(self.fail(err)),
            };
            let active = self.state == CloseState::Active;
            match inbound {
                Inbound::Text(text) if active => return Some(WsEvent::Text(text)),
                Inbound::Binary(bin) if active => return Some(WsEvent::Binary(bin)),
                Inbound::Ping(payload) if active => {
                    self.transmit.push_back(encode_frame(OP_PONG, &payload));
                    return Some(WsEvent::Ping(payload));
                }
                Inbound::Pong(payload) if active => return Some(WsEvent::Pong(payload)),
                // After our close, the peer's data and pings are ignored (RFC 6455 §1.4).
                Inbound::Text(_) | Inbound::Binary(_) | Inbound::Ping(_) | Inbound::Pong(_) => {}
                Inbound::Close(frame) => return Some(self.on_peer_close(frame)),
            }
        }
    }

    fn on_peer_close(&mut self, frame: Option<super::CloseFrame>) -> WsEvent {
        if self.state == CloseState::ClosedByUs {
            self.state = CloseState::CloseAcknowledged;
            let (code, reason) = self
                .sent_close
                .take()
                .unwrap_or((CLOSE_NO_STATUS, String::new()));
            return WsEvent::Closed {
                code,
                reason,
                initiator: CloseInitiator::Us,
            };
        }
        self.state = CloseState::ClosedByPeer;
        let (code, reason) = match frame {
            // Echo the peer's code (it was validated as sendable by the decoder).
            Some(f) => {
                self.transmit
                    .push_back(encode_close(f.code, "").unwrap_or_else(|_| encode_empty_close()));
                (f.code, f.reason)
            }
            None => {
                self.transmit.push_back(encode_empty_close());
                (CLOSE_NO_STATUS, String::new())
            }
        };
        WsEvent::Closed {
            code,
            reason,
            initiator: CloseInitiator::Peer,
        }
    }

    fn fail(&mut self, err: WsError) -> WsEvent {
        if self.state == CloseState::Active {
            if let Ok(frame) = encode_close(err.close_code(), err.reason()) {
                self.transmit.push_back(frame);
            }
        }
        self.state = CloseState::Failed;
        WsEvent::Failed(err)
    }
}
