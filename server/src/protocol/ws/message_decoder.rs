//! [`MessageDecoder`]: client frames in, validated messages and control frames out.

use bytes::{Buf, Bytes, BytesMut};
use roomcast::wire::{OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT};

use super::close_code::is_valid_received_close_code;
use super::mask::apply_mask;
use super::utf8_stream::Utf8Stream;
use super::{FrameHeader, WsError};

/// The largest payload of a control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// One complete thing a client sent: a whole (reassembled) message or a control
/// frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A text message, validated UTF-8.
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A ping and its payload (at most 125 bytes).
    Ping(Bytes),
    /// A pong and its payload (at most 125 bytes).
    Pong(Bytes),
    /// A close frame: `None` if it had no payload (no status code).
    Close(Option<CloseFrame>),
}

/// The status code and reason of a close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code (RFC 6455 §7.4).
    pub code: u16,
    /// The reason, valid UTF-8, at most 123 bytes.
    pub reason: String,
}

/// A data frame whose header has been consumed and whose payload is arriving.
#[derive(Debug)]
struct DataFrameInProgress {
    fin: bool,
    mask: [u8; 4],
    /// INVARIANT: `read <= len`.
    len: usize,
    read: usize,
}

/// A message being reassembled from its frames.
#[derive(Debug)]
enum PartialMessage {
    Text(Utf8Stream),
    Binary(BytesMut),
}

impl PartialMessage {
    fn len(&self) -> usize {
        match self {
            PartialMessage::Text(t) => t.len(),
            PartialMessage::Binary(b) => b.len(),
        }
    }
}

/// The incremental, sans-IO decoder of the frames a client sends (RFC 6455 §5).
///
/// The caller appends what it reads from the socket to a [`BytesMut`] and calls
/// [`MessageDecoder::decode`] until it returns `Ok(None)`. Frame headers and control
/// frames (at most 139 bytes) are consumed only once complete: on a short read
/// nothing of them is consumed. The payload of a data frame is consumed as it
/// arrives: it is unmasked in place and moved into the message being reassembled,
/// and text is validated as it comes, so that an invalid message fails on the
/// piece that makes it invalid and a large frame is never buffered twice.
///
/// The configured maximum bounds the reassembled message, and a frame whose
/// declared length would exceed it is refused from its header, before any of its
/// payload is buffered. So memory per connection is bounded by the maximum plus
/// one control frame.
///
/// Rules enforced: client frames must be masked; RSV bits must be clear (no
/// extension is negotiated); reserved opcodes are refused; control frames carry at
/// most 125 bytes and are never fragmented but may come between the fragments of
/// a message; continuation frames only continue a started message and a new
/// message may not start inside one; text and close reasons are UTF-8; close codes
/// are ones a peer may send.
///
/// After an error the decoder's state is unspecified: fail the connection, do not
/// decode further.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use roomcast_server::protocol::ws::{Inbound, MessageDecoder};
///
/// let mut decoder = MessageDecoder::new(1 << 20);
/// // A masked "Hi" (key 0), in two reads.
/// let mut buf = BytesMut::from(&[0x81, 0x82, 0, 0][..]);
/// assert_eq!(decoder.decode(&mut buf), Ok(None));
/// buf.extend_from_slice(&[0, 0, b'H', b'i']);
/// assert_eq!(decoder.decode(&mut buf), Ok(Some(Inbound::Text("Hi".into()))));
/// assert!(buf.is_empty());
/// ```
#[derive(Debug)]
pub struct MessageDecoder {
    max_message_size: usize,
    frame: Option<DataFrameInProgress>,
    /// INVARIANT: `Some` whenever `frame` is `Some`, and its length never exceeds
    /// `max_message_size`.
    message: Option<PartialMessage>,
}

impl MessageDecoder {
    /// A decoder refusing messages larger than `max_message_size` bytes.
    #[must_use]
    pub fn new(max_message_size: usize) -> MessageDecoder {
        MessageDecoder {
            max_message_size,
            frame: None,
            message: None,
        }
    }

    /// The configured maximum message size in bytes.
    #[must_use]
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Whether a fragmented message or a frame's payload is partly received.
    #[must_use]
    pub fn is_mid_message(&self) -> bool {
        self.message.is_some()
    }

    /// Decodes the next complete message or control frame from the front of `buf`,
    /// consuming what it used (see the type's docs for what is consumed early).
    ///
    /// Returns `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    ///
    /// A [`WsError`] if the client broke the protocol; its
    /// [`WsError::close_code`] is the code to fail the connection with.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Inbound>, WsError> {
        loop {
            if self.frame.is_some() {
                match self.read_data_payload(buf)? {
                    DataProgress::NeedMore => return Ok(None),
                    DataProgress::FrameDone => continue,
                    DataProgress::Message(m) => return Ok(Some(m)),
                }
            }
            let Some((header, header_len)) = FrameHeader::parse(buf)? else {
                return Ok(None);
            };
            if header.rsv != 0 {
                return Err(WsError::ReservedBits(header.rsv));
            }
            let Some(mask) = header.mask else {
                return Err(WsError::UnmaskedFrame);
            };
            if header.is_control() {
                return self.read_control(buf, header, header_len, mask);
            }
            self.start_data_frame(&header, mask)?;
            buf.advance(header_len);
        }
    }

    fn read_control(
        &mut self,
        buf: &mut BytesMut,
        header: FrameHeader,
        header_len: usize,
        mask: [u8; 4],
    ) -> Result<Option<Inbound>, WsError> {
        if !matches!(header.opcode, OP_CLOSE | OP_PING | OP_PONG) {
            return Err(WsError::ReservedOpcode(header.opcode));
        }
        if !header.fin {
            return Err(WsError::FragmentedControlFrame);
        }
        if header.payload_len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(WsError::ControlFrameTooLong(header.payload_len));
        }
        // At most 125: the cast is lossless.
        let len = header.payload_len as usize;
        if buf.len() < header_len + len {
            return Ok(None);
        }
        buf.advance(header_len);
        let mut payload = buf.split_to(len);
        apply_mask(&mut payload, mask, 0);
        Ok(Some(match header.opcode {
            OP_PING => Inbound::Ping(payload.freeze()),
            OP_PONG => Inbound::Pong(payload.freeze()),
            _ => Inbound::Close(parse_close_payload(&payload)?),
        }))
    }

    fn start_data_frame(&mut self, header: &FrameHeader, mask: [u8; 4]) -> Result<(), WsError> {
        match (header.opcode, &self.message) {
            (OP_CONTINUATION, None) => return Err(WsError::UnexpectedContinuation),
            (OP_CONTINUATION, Some(_)) => {}
            (OP_TEXT | OP_BINARY, Some(_)) => return Err(WsError::ExpectedContinuation),
            (OP_TEXT | OP_BINARY, None) => {}
            (op, _) => return Err(WsError::ReservedOpcode(op)),
        }
        let so_far = self.message.as_ref().map_or(0, PartialMessage::len);
        let room = self.max_message_size.saturating_sub(so_far);
        let len = match usize::try_from(header.payload_len) {
            Ok(len) if len <= room => len,
            _ => {
                return Err(WsError::MessageTooBig {
                    size: (so_far as u64).saturating_add(header.payload_len),
                    max: self.max_message_size,
                })
            }
        };
        if self.message.is_none() {
            self.message = Some(if header.opcode == OP_TEXT {
                PartialMessage::Text(Utf8Stream::new())
            } else {
                PartialMessage::Binary(BytesMut::new())
            });
        }
        self.frame = Some(DataFrameInProgress {
            fin: header.fin,
            mask,
            len,
            read: 0,
        });
        Ok(())
    }

    fn read_data_payload(&mut self, buf: &mut BytesMut) -> Result<DataProgress, WsError> {
        let (Some(frame), Some(message)) = (self.frame.as_mut(), self.message.as_mut()) else {
            // Unreachable by the invariant; treat as a finished frame.
            self.frame = None;
            return Ok(DataProgress::FrameDone);
        };
        let n = (frame.len - frame.read).min(buf.len());
        if n == 0 && frame.read < frame.len {
            return Ok(DataProgress::NeedMore);
        }
        let offset = frame.read;
        frame.read += n;
        let frame_done = frame.read == frame.len;
        match message {
            // A whole frame that starts a binary message: hand over its bytes
            // without copying them.
            PartialMessage::Binary(bin) if bin.is_empty() && frame_done => {
                let mut chunk = buf.split_to(n);
                apply_mask(&mut chunk, frame.mask, offset);
                *bin = chunk;
            }
            PartialMessage::Binary(bin) => {
                apply_mask(&mut buf[..n], frame.mask, offset);
                bin.extend_from_slice(&buf[..n]);
                buf.advance(n);
            }
            PartialMessage::Text(text) => {
                apply_mask(&mut buf[..n], frame.mask, offset);
                let pushed = text.push(&buf[..n]);
                buf.advance(n);
                pushed.map_err(|_| WsError::InvalidUtf8)?;
            }
        }
        if !frame_done {
            return Ok(DataProgress::NeedMore);
        }
        let fin = frame.fin;
        self.frame = None;
        if !fin {
            return Ok(DataProgress::FrameDone);
        }
        Ok(DataProgress::Message(match self.message.take() {
            Some(PartialMessage::Text(text)) => {
                Inbound::Text(text.finish().map_err(|_| WsError::InvalidUtf8)?)
            }
            Some(PartialMessage::Binary(bin)) => Inbound::Binary(bin.freeze()),
            None => Inbound::Binary(Bytes::new()),
        }))
    }
}

enum DataProgress {
    NeedMore,
    FrameDone,
    Message(Inbound),
}

/// Parses and validates the payload of a close frame (RFC 6455 §5.5.1).
///
/// # Errors
///
/// [`WsError::ClosePayloadTooShort`] for a 1-byte payload,
/// [`WsError::InvalidCloseCode`] for a code a peer may not send,
/// [`WsError::InvalidUtf8`] for a reason that is not UTF-8.
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseFrame>, WsError> {
    match payload {
        [] => Ok(None),
        [_] => Err(WsError::ClosePayloadTooShort),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_received_close_code(code) {
                return Err(WsError::InvalidCloseCode(code));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
            Ok(Some(CloseFrame {
                code,
                reason: reason.to_owned(),
            }))
        }
    }
}
