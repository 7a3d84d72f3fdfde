//! [`FrameHeader`]: the push parser of one RFC 6455 frame header (§5.2).

use super::WsError;

/// The largest header: 2 bytes, a 64-bit extended length and a 4-byte mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// One parsed frame header, as it came off the wire (nothing validated beyond the
/// syntax: [`super::MessageDecoder`] applies the protocol rules).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-------+-+-------------+-------------------------------+
/// |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
/// |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
/// |N|V|V|V|       |S|             |   (if payload len==126/127)   |
/// | |1|2|3|       |K|             |                               |
/// +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
/// |     Extended payload length continued, if payload len == 127  |
/// + - - - - - - - - - - - - - - - +-------------------------------+
/// |                               |Masking-key, if MASK set to 1  |
/// +-------------------------------+-------------------------------+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the last frame of its message.
    pub fin: bool,
    /// RSV1, RSV2, RSV3 as three bits (`0b100` = RSV1).
    pub rsv: u8,
    /// The 4-bit opcode (see `roomcast::wire::OP_*`).
    pub opcode: u8,
    /// The masking key, if the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// The declared payload length.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses the header at the start of `buf`.
    ///
    /// Returns `Ok(Some((header, header_len)))` when the whole header is in `buf`,
    /// `Ok(None)` ("need more bytes") when it is not; like `httparse`'s `Partial`,
    /// nothing is consumed then (the function never consumes anything: the caller
    /// advances by `header_len`). The payload need not be present.
    ///
    /// # Errors
    ///
    /// [`WsError::LengthOverflow`] if the 64-bit length has its most significant
    /// bit set (RFC 6455 §5.2). All other rules are checked by the caller.
    ///
    /// # Examples
    ///
    /// ```
    /// use roomcast_server::protocol::ws::FrameHeader;
    ///
    /// let bytes = [0x81, 0x85, 1, 2, 3, 4, b'h' ^ 1];
    /// let (h, used) = FrameHeader::parse(&bytes).unwrap().unwrap();
    /// assert_eq!((h.fin, h.opcode, h.payload_len, used), (true, 1, 5, 6));
    /// assert_eq!(FrameHeader::parse(&bytes[..5]), Ok(None));
    /// ```
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, WsError> {
        let (first, second) = match buf {
            [a, b, ..] => (*a, *b),
            _ => return Ok(None),
        };
        let masked = second & 0x80 != 0;
        let (payload_len, mut at) = match second & 0x7F {
            126 => match buf.get(2..4) {
                Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
                _ => return Ok(None),
            },
            127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(b) => {
                    let len = u64::from_be_bytes(b);
                    if len >> 63 != 0 {
                        return Err(WsError::LengthOverflow);
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        let mask = if masked {
            match buf
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
            {
                Some(key) => {
                    at += 4;
                    Some(key)
                }
                None => return Ok(None),
            }
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin: first & 0x80 != 0,
                rsv: (first >> 4) & 0b111,
                opcode: first & 0x0F,
                mask,
                payload_len,
            },
            at,
        )))
    }

    /// Whether the opcode is a control opcode (close, ping, pong or a reserved
    /// control opcode 0xB-0xF).
    #[must_use]
    pub fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_length_encodings_and_needs_more_on_every_prefix() {
        let cases: [(&[u8], u64, usize); 3] = [
            (&[0x82, 0x80 | 5, 9, 9, 9, 9], 5, 6),
            (&[0x82, 0x80 | 126, 0x01, 0x00, 9, 9, 9, 9], 256, 8),
            (
                &[0x82, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0, 9, 9, 9, 9],
                1 << 32,
                14,
            ),
        ];
        for (bytes, len, used) in cases {
            for cut in 0..bytes.len() {
                assert_eq!(FrameHeader::parse(&bytes[..cut]), Ok(None), "cut {cut}");
            }
            let (h, n) = FrameHeader::parse(bytes).unwrap().unwrap();
            assert_eq!((h.payload_len, n, h.mask), (len, used, Some([9; 4])));
            assert!(h.fin && h.rsv == 0 && h.opcode == 2 && !h.is_control());
        }
    }

    #[test]
    fn top_bit_of_the_64_bit_length_is_refused() {
        let bytes = [0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        assert_eq!(FrameHeader::parse(&bytes), Err(WsError::LengthOverflow));
    }

    #[test]
    fn reads_rsv_bits_and_unmasked_headers() {
        let (h, n) = FrameHeader::parse(&[0x79, 0x00]).unwrap().unwrap();
        assert_eq!(
            (h.fin, h.rsv, h.opcode, h.mask, n),
            (false, 0b111, 9, None, 2)
        );
        assert!(h.is_control());
    }
}
