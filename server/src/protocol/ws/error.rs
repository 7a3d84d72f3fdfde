//! [`WsError`]: everything the WebSocket codec can refuse, each mapped to the close
//! code RFC 6455 §7.4.1 asks for.

use std::fmt;

/// Close code 1002: protocol error.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code 1007: a text message (or close reason) that is not valid UTF-8.
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
/// Close code 1009: a message too big to process.
pub const CLOSE_MESSAGE_TOO_BIG: u16 = 1009;

/// Why the codec refused its input (or a close the caller asked for).
///
/// Two families:
///
/// * **Fatal to the connection** (the peer broke the protocol): every variant except
///   [`WsError::CloseCodeNotSendable`] and [`WsError::CloseReasonTooLong`]. The
///   connection must be failed with [`WsError::close_code`]; [`super::WsSession`]
///   does that by itself. Nothing more can be read from the stream afterwards.
/// * **The caller's bug**: [`WsError::CloseCodeNotSendable`] and
///   [`WsError::CloseReasonTooLong`], returned by [`super::WsSession::close`] and
///   [`super::encode_close`]; the connection is untouched and the refused value is
///   handed back in the variant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WsError {
    /// A client frame without a mask (RFC 6455 §5.1). 1002.
    UnmaskedFrame,
    /// RSV1, RSV2 or RSV3 set while no extension was negotiated (the bits are
    /// handed back, `0b100` = RSV1). 1002.
    ReservedBits(u8),
    /// A reserved opcode (3-7, 0xB-0xF). 1002.
    ReservedOpcode(u8),
    /// A control frame with a payload longer than 125 bytes. 1002.
    ControlFrameTooLong(u64),
    /// A control frame without FIN. 1002.
    FragmentedControlFrame,
    /// A continuation frame while no fragmented message was in progress. 1002.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message was in progress. 1002.
    ExpectedContinuation,
    /// A 64-bit payload length with its most significant bit set. 1002.
    LengthOverflow,
    /// A close frame whose payload is a single byte (a code needs two). 1002.
    ClosePayloadTooShort,
    /// A close frame carrying a code a peer may not send (0-999, 1004-1006,
    /// 1015-2999 except the registered ones, 5000 and above). 1002.
    InvalidCloseCode(u16),
    /// A text message, or a close reason, that is not valid UTF-8. 1007.
    InvalidUtf8,
    /// A message (or one frame's declared length) above the configured maximum. 1009.
    MessageTooBig {
        /// The size reached or declared, in bytes.
        size: u64,
        /// The configured maximum, in bytes.
        max: usize,
    },
    /// The caller asked to close with a code an endpoint may not send (the code is
    /// handed back). Caller's bug; the connection is untouched.
    CloseCodeNotSendable(u16),
    /// The caller's close reason is longer than 123 bytes (its length is handed
    /// back). Caller's bug; the connection is untouched.
    CloseReasonTooLong(usize),
}

impl WsError {
    /// The close code to fail the connection with: 1002, 1007 or 1009.
    ///
    /// For the caller-bug variants this is 1002 too, though they never close a
    /// connection by themselves.
    #[must_use]
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::InvalidUtf8 => CLOSE_INVALID_PAYLOAD,
            WsError::MessageTooBig { .. } => CLOSE_MESSAGE_TOO_BIG,
            _ => CLOSE_PROTOCOL_ERROR,
        }
    }

    /// Whether the error is the peer's protocol violation, fatal to the connection
    /// (as opposed to the caller's misuse of [`super::WsSession::close`]).
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            WsError::CloseCodeNotSendable(_) | WsError::CloseReasonTooLong(_)
        )
    }

    /// A short, static close reason for the close frame that fails the connection.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            WsError::UnmaskedFrame => "unmasked client frame",
            WsError::ReservedBits(_) => "reserved bits set",
            WsError::ReservedOpcode(_) => "reserved opcode",
            WsError::ControlFrameTooLong(_) => "control frame too long",
            WsError::FragmentedControlFrame => "fragmented control frame",
            WsError::UnexpectedContinuation => "unexpected continuation frame",
            WsError::ExpectedContinuation => "expected continuation frame",
            WsError::LengthOverflow => "payload length overflow",
            WsError::ClosePayloadTooShort => "close payload of one byte",
            WsError::InvalidCloseCode(_) => "invalid close code",
            WsError::InvalidUtf8 => "invalid UTF-8",
            WsError::MessageTooBig { .. } => "message too big",
            WsError::CloseCodeNotSendable(_) => "close code not sendable",
            WsError::CloseReasonTooLong(_) => "close reason too long",
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::ReservedBits(bits) => write!(f, "reserved bits set ({bits:#05b})"),
            WsError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            WsError::ControlFrameTooLong(len) => {
                write!(f, "control frame of {len} bytes (at most 125)")
            }
            WsError::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
            WsError::MessageTooBig { size, max } => {
                write!(f, "message of {size} bytes exceeds the maximum of {max}")
            }
            WsError::CloseCodeNotSendable(code) => {
                write!(f, "close code {code} may not be sent")
            }
            WsError::CloseReasonTooLong(len) => {
                write!(f, "close reason of {len} bytes (at most 123)")
            }
            other => f.write_str(other.reason()),
        }
    }
}

impl std::error::Error for WsError {}
