//! Encode-once wire bytes.
//!
//! A broadcast is serialized exactly once, into one [`Frame`]: a complete, unmasked
//! RFC 6455 frame whose payload is the Engine.IO `message` packet (`4`) carrying the
//! Socket.IO `EVENT` packet (`2`), e.g. `42["event",{"a":1}]`. Server-to-client
//! frames are never masked, so the same bytes are valid on every connection and are
//! shared by reference count ([`Bytes`]), never copied per recipient. Engine.IO v3
//! and v4 encode text packets identically, so one frame serves both client
//! generations.
//!
//! # Memory layout
//!
//! ```text
//!  Frame (Bytes)
//!  +------+---------------+----+--------------+-----------------------------+
//!  | 0x81 | len (1/3/9 B) | 42 | ["<event>",  | <raw JSON data>]            |
//!  +------+---------------+----+--------------+-----------------------------+
//!    FIN|text  7-bit, 126+u16, 127+u64 (RFC 6455 §5.2), never masked
//! ```
//!
//! The data is taken as already-serialized JSON ([`Frame::event_raw`]) and copied in
//! without being parsed again; [`Frame::event`] serializes a `serde` value first.

use bytes::{BufMut, Bytes, BytesMut};

use crate::Error;

/// WebSocket opcode of a continuation frame.
pub const OP_CONTINUATION: u8 = 0x0;
/// WebSocket opcode of a text frame.
pub const OP_TEXT: u8 = 0x1;
/// WebSocket opcode of a binary frame.
pub const OP_BINARY: u8 = 0x2;
/// WebSocket opcode of a close frame.
pub const OP_CLOSE: u8 = 0x8;
/// WebSocket opcode of a ping frame.
pub const OP_PING: u8 = 0x9;
/// WebSocket opcode of a pong frame.
pub const OP_PONG: u8 = 0xA;

/// Event names a server must never emit: Socket.IO clients treat them as their own
/// lifecycle events (v3/v4 JS clients drop the connection on them).
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Returns whether `event` is one of the [`RESERVED_EVENTS`].
#[must_use]
pub fn is_reserved_event(event: &str) -> bool {
    RESERVED_EVENTS.contains(&event)
}

/// Length in bytes of the header of an unmasked frame with a payload of `len` bytes.
#[must_use]
pub const fn frame_header_len(len: usize) -> usize {
    if len < 126 {
        2
    } else if len <= u16::MAX as usize {
        4
    } else {
        10
    }
}

/// Appends the header of a final (FIN), unmasked frame with `opcode` and a payload
/// of `len` bytes, choosing the shortest of the three length encodings as RFC 6455
/// §5.2 requires.
pub fn put_frame_header(out: &mut impl BufMut, opcode: u8, len: usize) {
    debug_assert!(opcode <= 0xF, "opcode is four bits");
    out.put_u8(0x80 | opcode);
    if len < 126 {
        out.put_u8(len as u8);
    } else if len <= u16::MAX as usize {
        out.put_u8(126);
        out.put_u16(len as u16);
    } else {
        out.put_u8(127);
        out.put_u64(len as u64);
    }
}

/// Builds one complete, final, unmasked frame.
#[must_use]
pub fn encode_frame(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(frame_header_len(payload.len()) + payload.len());
    put_frame_header(&mut out, opcode, payload.len());
    out.put_slice(payload);
    out.freeze()
}

/// One complete WebSocket frame ready for the wire, shared by every recipient.
///
/// Cloning a `Frame` clones a [`Bytes`] handle (a reference count), never the data.
///
/// # Examples
///
/// ```
/// use roomcast::wire::Frame;
///
/// let frame = Frame::event_raw("/", "chat", Some(r#"{"text":"hi"}"#)).unwrap();
/// assert_eq!(&frame.as_bytes()[2..], br#"42["chat",{"text":"hi"}]"#);
/// assert_eq!(frame.as_bytes()[0], 0x81); // FIN | text
/// assert_eq!(frame.payload(), br#"42["chat",{"text":"hi"}]"#);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    bytes: Bytes,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("payload", &String::from_utf8_lossy(self.payload()))
            .finish()
    }
}

impl Frame {
    /// A Socket.IO `EVENT` (`42…`) on namespace `nsp` with `event` as its name and
    /// `data` (already-serialized JSON, copied in without being parsed) as its one
    /// argument; `None` sends the event with no argument.
    ///
    /// The caller vouches that `data` is one valid JSON value: it is not re-parsed
    /// (that is the point of this constructor). Use [`Frame::event`] to serialize a
    /// value instead.
    ///
    /// # Errors
    ///
    /// [`Error::ReservedEvent`] if `event` is one of [`RESERVED_EVENTS`];
    /// [`Error::InvalidNamespace`] if `nsp` does not start with `/` or contains a comma.
    pub fn event_raw(nsp: &str, event: &str, data: Option<&str>) -> Result<Frame, Error> {
        if is_reserved_event(event) {
            return Err(Error::ReservedEvent(event.to_owned()));
        }
        let nsp_len = namespace_prefix_len(nsp)?;
        let mut escaped = Vec::with_capacity(event.len() + 2);
        // Writing a &str into a Vec cannot fail.
        serde_json::to_writer(&mut escaped, event).expect("string serialization is infallible");
        let data_len = data.map_or(0, |d| d.len() + 1);
        let payload_len = 2 + nsp_len + 1 + escaped.len() + data_len + 1;
        let mut out = BytesMut::with_capacity(frame_header_len(payload_len) + payload_len);
        put_frame_header(&mut out, OP_TEXT, payload_len);
        out.put_slice(b"42");
        if nsp_len > 0 {
            out.put_slice(nsp.as_bytes());
            out.put_u8(b',');
        }
        out.put_u8(b'[');
        out.put_slice(&escaped);
        if let Some(d) = data {
            out.put_u8(b',');
            out.put_slice(d.as_bytes());
        }
        out.put_u8(b']');
        debug_assert_eq!(out.len(), frame_header_len(payload_len) + payload_len);
        Ok(Frame {
            bytes: out.freeze(),
        })
    }

    /// Like [`Frame::event_raw`], serializing `data` with `serde_json` first.
    ///
    /// # Errors
    ///
    /// As [`Frame::event_raw`], plus [`Error::Serialize`] if `data` does not serialize.
    pub fn event<T: serde::Serialize + ?Sized>(
        nsp: &str,
        event: &str,
        data: &T,
    ) -> Result<Frame, Error> {
        let json = serde_json::to_string(data).map_err(|e| Error::Serialize(e.to_string()))?;
        Frame::event_raw(nsp, event, Some(&json))
    }

    /// A text frame carrying `payload` as is (for example an Engine.IO packet the
    /// caller built, such as `3` or `40{"sid":"…"}`).
    #[must_use]
    pub fn text(payload: &str) -> Frame {
        Frame {
            bytes: encode_frame(OP_TEXT, payload.as_bytes()),
        }
    }

    /// Wraps bytes that already hold one or more complete frames.
    #[must_use]
    pub fn from_wire(bytes: Bytes) -> Frame {
        Frame { bytes }
    }

    /// The complete frame, header included.
    #[must_use]
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The frame's payload (the bytes after the header). Only meaningful for frames
    /// built by this module (one frame per `Frame`).
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        match parse_frame(&self.bytes) {
            Some((_, payload, _)) => payload,
            None => &[],
        }
    }

    /// The frame, header included, as shared bytes.
    #[must_use]
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Length of the complete frame in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false for frames built by this module; true only for an empty
    /// [`Frame::from_wire`].
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Serialized as its bytes (a complete WebSocket frame, header included).
impl serde::Serialize for Frame {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.bytes)
    }
}

/// Accepts exactly one complete, unmasked text or binary frame: bytes from another
/// process are never written to clients unless they are one whole frame.
impl<'de> serde::Deserialize<'de> for Frame {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Frame, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("the bytes of one WebSocket frame")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Vec<u8>, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(b) = seq.next_element::<u8>()? {
                    v.push(b);
                }
                Ok(v)
            }
        }
        let bytes = d.deserialize_bytes(Visit)?;
        match parse_frame(&bytes) {
            Some((OP_TEXT | OP_BINARY, _, used)) if used == bytes.len() && bytes[0] & 0x80 != 0 => {
                Ok(Frame {
                    bytes: Bytes::from(bytes),
                })
            }
            _ => Err(serde::de::Error::custom(
                "not exactly one complete, final, unmasked text or binary frame",
            )),
        }
    }
}

fn namespace_prefix_len(nsp: &str) -> Result<usize, Error> {
    if nsp == "/" || nsp.is_empty() {
        return Ok(0);
    }
    if !nsp.starts_with('/') || nsp.contains(',') {
        return Err(Error::InvalidNamespace(nsp.to_owned()));
    }
    Ok(nsp.len() + 1)
}

/// Parses one complete, unmasked frame at the start of `buf`, as a client would:
/// returns `(opcode, payload, bytes consumed)`, or `None` if `buf` does not yet hold
/// a whole frame (or holds a masked one). A test and tooling helper: the server's
/// decoder of client frames lives in the server crate.
#[must_use]
pub fn parse_frame(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    if buf.len() < 2 || buf[1] & 0x80 != 0 {
        return None;
    }
    let opcode = buf[0] & 0x0F;
    let (len, header): (usize, usize) = match buf[1] & 0x7F {
        126 => {
            let b = buf.get(2..4)?;
            (u16::from_be_bytes([b[0], b[1]]) as usize, 4)
        }
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (usize::try_from(u64::from_be_bytes(b)).ok()?, 10)
        }
        n => (n as usize, 2),
    };
    let end = header.checked_add(len)?;
    let payload = buf.get(header..end)?;
    Some((opcode, payload, end))
}

/// Splits a byte stream written to one client into the payloads of its complete
/// frames, as text (lossily). Bytes of an incomplete trailing frame are ignored.
/// Handy for tests and examples that read what an in-memory writer received.
#[must_use]
pub fn split_frames(mut buf: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((_, payload, used)) = parse_frame(buf) {
        out.push(String::from_utf8_lossy(payload).into_owned());
        buf = &buf[used..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths_use_all_three_encodings() {
        for (len, hdr) in [
            (0, 2),
            (125, 2),
            (126, 4),
            (65535, 4),
            (65536, 10),
            (1 << 20, 10),
        ] {
            assert_eq!(frame_header_len(len), hdr, "len {len}");
            let payload = vec![b'x'; len];
            let f = encode_frame(OP_TEXT, &payload);
            assert_eq!(f.len(), hdr + len);
            let (op, p, used) = parse_frame(&f).expect("complete frame");
            assert_eq!(op, OP_TEXT);
            assert_eq!(p.len(), len);
            assert_eq!(used, f.len());
        }
        assert_eq!(
            &encode_frame(OP_TEXT, &[b'a'; 126])[..4],
            &[0x81, 126, 0, 126]
        );
        assert_eq!(
            &encode_frame(OP_BINARY, &vec![0; 65536])[..10],
            &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
    }

    #[test]
    fn event_frames_match_socket_io_encoding() {
        let f = Frame::event_raw("/", "hey", Some("\"Jude\"")).unwrap();
        assert_eq!(f.payload(), br#"42["hey","Jude"]"#);
        let f = Frame::event_raw("/admin", "x", Some("1")).unwrap();
        assert_eq!(f.payload(), br#"42/admin,["x",1]"#);
        let f = Frame::event_raw("/", "ping", None).unwrap();
        assert_eq!(f.payload(), br#"42["ping"]"#);
        let f = Frame::event_raw("/", "quote\"d\n", Some("{}")).unwrap();
        assert_eq!(f.payload(), br#"42["quote\"d\n",{}]"#);
        let f = Frame::event("/", "m", &serde_json::json!({"b": 1, "a": [true]})).unwrap();
        assert_eq!(f.payload(), br#"42["m",{"b":1,"a":[true]}]"#);
    }

    #[test]
    fn big_event_frames_get_long_headers() {
        let data = format!("\"{}\"", "y".repeat(70_000));
        let f = Frame::event_raw("/", "big", Some(&data)).unwrap();
        assert_eq!(f.as_bytes()[1], 127);
        assert_eq!(f.payload().len(), 2 + 7 + data.len() + 1);
        let data = format!("\"{}\"", "y".repeat(200));
        let f = Frame::event_raw("/", "mid", Some(&data)).unwrap();
        assert_eq!(f.as_bytes()[1], 126);
        assert!(f.payload().ends_with(b"\"]"));
    }

    #[test]
    fn reserved_names_and_bad_namespaces_are_refused() {
        for name in RESERVED_EVENTS {
            assert!(matches!(
                Frame::event_raw("/", name, None),
                Err(Error::ReservedEvent(n)) if n == name
            ));
        }
        assert!(matches!(
            Frame::event_raw("admin", "x", None),
            Err(Error::InvalidNamespace(_))
        ));
        assert!(matches!(
            Frame::event_raw("/a,b", "x", None),
            Err(Error::InvalidNamespace(_))
        ));
    }

    #[test]
    fn split_frames_reads_a_stream() {
        let mut s = Vec::new();
        s.extend_from_slice(Frame::text("3").as_bytes());
        s.extend_from_slice(Frame::event_raw("/", "a", Some("1")).unwrap().as_bytes());
        s.extend_from_slice(&[0x81, 5, b'x']); // incomplete
        assert_eq!(
            split_frames(&s),
            vec!["3".to_owned(), r#"42["a",1]"#.to_owned()]
        );
    }
}
