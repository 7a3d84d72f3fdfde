//! Close codes (RFC 6455 §7.4) and close frames.

use bytes::{BufMut, Bytes, BytesMut};
use roomcast::wire::{frame_header_len, put_frame_header, OP_CLOSE};

use super::WsError;

/// 1000: normal closure.
pub const CLOSE_NORMAL: u16 = 1000;
/// 1001: going away (server shutting down, page navigated away).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// 1008: policy violation.
pub const CLOSE_POLICY: u16 = 1008;
/// 1011: internal error.
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;
/// 1013: try again later (overloaded).
pub const CLOSE_TRY_AGAIN_LATER: u16 = 1013;
/// 1005: "no status code", never on the wire: what a close without a payload means.
pub const CLOSE_NO_STATUS: u16 = 1005;

/// 1006: abnormal closure, never on the wire: the TCP connection ended without a
/// close handshake.
pub const CLOSE_ABNORMAL: u16 = 1006;

/// The longest close reason: a control payload of 125 bytes minus the 2-byte code.
pub const MAX_CLOSE_REASON: usize = 123;

/// Whether a peer may send `code` in a close frame: the codes RFC 6455 defines for
/// use on the wire (1000-1003, 1007-1011), the later registered ones (1012-1014),
/// and the ranges for libraries and applications (3000-4999). 1004-1006 and 1015
/// are reserved or never sent; 0-999, 1016-2999 and 5000+ are not in use.
#[must_use]
pub fn is_valid_received_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Builds a close frame (unmasked, as a server sends it) with `code` and `reason`.
///
/// # Errors
///
/// [`WsError::CloseCodeNotSendable`] if `code` is not one a peer may send (see
/// [`is_valid_received_close_code`]); [`WsError::CloseReasonTooLong`] if `reason`
/// is longer than [`MAX_CLOSE_REASON`] bytes.
///
/// # Examples
///
/// ```
/// use roomcast_server::protocol::ws::encode_close;
///
/// assert_eq!(&encode_close(1001, "bye").unwrap()[..], &[0x88, 5, 0x03, 0xE9, b'b', b'y', b'e']);
/// assert!(encode_close(1005, "").is_err());
/// ```
pub fn encode_close(code: u16, reason: &str) -> Result<Bytes, WsError> {
    if !is_valid_received_close_code(code) {
        return Err(WsError::CloseCodeNotSendable(code));
    }
    if reason.len() > MAX_CLOSE_REASON {
        return Err(WsError::CloseReasonTooLong(reason.len()));
    }
    let len = 2 + reason.len();
    let mut out = BytesMut::with_capacity(frame_header_len(len) + len);
    put_frame_header(&mut out, OP_CLOSE, len);
    out.put_u16(code);
    out.put_slice(reason.as_bytes());
    Ok(out.freeze())
}

/// A close frame with no payload (the reply to a close that carried no code).
#[must_use]
pub fn encode_empty_close() -> Bytes {
    roomcast::wire::encode_frame(OP_CLOSE, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_code_table() {
        let valid = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ];
        let invalid = [
            0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ];
        for c in valid {
            assert!(is_valid_received_close_code(c), "{c}");
        }
        for c in invalid {
            assert!(!is_valid_received_close_code(c), "{c}");
        }
    }

    #[test]
    fn encode_close_refuses_bad_codes_and_long_reasons() {
        assert_eq!(
            encode_close(999, ""),
            Err(WsError::CloseCodeNotSendable(999))
        );
        let long = "x".repeat(124);
        assert_eq!(
            encode_close(1000, &long),
            Err(WsError::CloseReasonTooLong(124))
        );
        let ok = encode_close(4000, &long[..123]).unwrap();
        assert_eq!(ok.len(), 2 + 125);
        assert_eq!(&encode_empty_close()[..], &[0x88, 0]);
    }
}
