//! Socket.IO protocol v5 (Engine.IO v4) and v4 (Engine.IO v3) packet codec, sans-IO.
//!
//! A Socket.IO packet travels inside an Engine.IO `message` packet (`4`) and reads
//! (PROTOCOL-NOTES §2.2):
//!
//! ```text
//! <type>[<attachments>-][<nsp>,][<ack id>][<JSON>]      then <attachments> binary messages
//! 42["hello",1]     42/admin,13["project:delete",123]     4313["ok"]
//! 451-["baz",{"_placeholder":true,"num":0}]  + 1 binary message
//! ```
//!
//! * **Decoding** ([`decode_packet`], or [`Decoder`] which also reassembles binary
//!   packets) follows socket.io-parser 4.2.x, made strict where the reference is
//!   sloppy: the namespace is read only if the next character is `/`, up to `,` or the
//!   end; the ack id is plain decimal digits (a space is rejected); the JSON tail must
//!   parse and match the type (CONNECT an object — v4 also array/null —, DISCONNECT
//!   nothing, EVENT a non-empty array whose first element is a number or a string
//!   that, in v5, is not a reserved name, ACK an array, CONNECT_ERROR a string or
//!   object). EVENT and ACK must carry their array. BINARY_EVENT/BINARY_ACK declare
//!   `1..=max_attachments` attachments and every `{"_placeholder":true,"num":N}`
//!   must have `N` in range.
//! * **JSON stays byte-exact.** The event name is decoded, but arguments are kept
//!   as the original JSON text ([`RawArgs`]): echoing `["message-back",1,"2",{"3":[true]}]`
//!   reproduces every byte of the arguments.
//! * **Encoders** (`encode_*`) return complete WebSocket message payloads, i.e. they
//!   include the Engine.IO `4` prefix: `40{"sid":"…"}`, `43<id>[…]`, …
//!
//! Every decoding error is fatal to the engine connection (socket.io closes it).
//!
//! ```
//! use roomcast_server::eio::EioVersion;
//! use roomcast_server::sio::{decode_packet, encode_ack, PacketData};
//! let (p, attachments) = decode_packet(EioVersion::V4, 10, r#"2/admin,13["save",{"z":1,"a":2.50}]"#).unwrap();
//! assert_eq!((p.nsp.as_str(), attachments), ("/admin", 0));
//! let PacketData::Event { name, args, id, .. } = p.data else { unreachable!() };
//! assert_eq!((name.as_str(), args.as_str(), id), ("save", r#"[{"z":1,"a":2.50}]"#, Some(13)));
//! assert_eq!(encode_ack("/admin", 13, args.as_str()).unwrap(), r#"43/admin,13[{"z":1,"a":2.50}]"#);
//! ```

use std::fmt;

use bytes::Bytes;
use serde_json::value::RawValue;
use smallvec::SmallVec;

use crate::eio::{encode_binary, EioVersion, WsMessage};

/// Default maximum number of binary attachments per packet (socket.io-parser's).
pub const DEFAULT_MAX_ATTACHMENTS: usize = 10;

/// Socket.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// `0` CONNECT.
    Connect,
    /// `1` DISCONNECT.
    Disconnect,
    /// `2` EVENT.
    Event,
    /// `3` ACK.
    Ack,
    /// `4` CONNECT_ERROR (v4: ERROR).
    ConnectError,
    /// `5` BINARY_EVENT.
    BinaryEvent,
    /// `6` BINARY_ACK.
    BinaryAck,
}

impl PacketKind {
    fn from_byte(b: u8) -> Option<PacketKind> {
        Some(match b {
            b'0' => PacketKind::Connect,
            b'1' => PacketKind::Disconnect,
            b'2' => PacketKind::Event,
            b'3' => PacketKind::Ack,
            b'4' => PacketKind::ConnectError,
            b'5' => PacketKind::BinaryEvent,
            b'6' => PacketKind::BinaryAck,
            _ => return None,
        })
    }

    /// The spec's name, e.g. `"BINARY_EVENT"`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            PacketKind::Connect => "CONNECT",
            PacketKind::Disconnect => "DISCONNECT",
            PacketKind::Event => "EVENT",
            PacketKind::Ack => "ACK",
            PacketKind::ConnectError => "CONNECT_ERROR",
            PacketKind::BinaryEvent => "BINARY_EVENT",
            PacketKind::BinaryAck => "BINARY_ACK",
        }
    }
}

/// Why a Socket.IO packet was refused (decoding), or could not be encoded.
/// Decoding errors are fatal to the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SioError {
    /// An empty packet (engine message `4` with no data).
    Empty,
    /// The first character is not `0`–`6`.
    UnknownPacketType(char),
    /// The `<n>-` attachment count of a binary packet is missing or not numeric.
    IllegalAttachments,
    /// More attachments than allowed.
    TooManyAttachments {
        /// The configured maximum.
        max: usize,
    },
    /// A binary packet declaring zero attachments.
    NoAttachments,
    /// The ack id is not a decimal `u64`, or is followed by whitespace.
    InvalidAckId,
    /// The JSON tail does not parse.
    InvalidJson(String),
    /// The JSON does not fit the packet type.
    InvalidPayload {
        /// The packet type.
        kind: PacketKind,
        /// What is wrong, e.g. "CONNECT payload must be an object".
        reason: &'static str,
    },
    /// An EVENT named with a reserved name (`connect`, `disconnect`, …).
    ReservedEventName(String),
    /// A text message while binary attachments were awaited.
    UnexpectedText,
    /// A binary message while no attachment was awaited.
    UnexpectedBinary,
    /// A placeholder whose `num` is missing, not an integer, or out of range.
    IllegalPlaceholder,
    /// Encoding: a namespace that does not start with `/` or contains `,`.
    InvalidNamespace(String),
    /// Encoding: arguments that are not a JSON array.
    InvalidArgs,
}

impl fmt::Display for SioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SioError::Empty => f.write_str("empty socket.io packet"),
            SioError::UnknownPacketType(c) => write!(f, "unknown packet type {c:?}"),
            SioError::IllegalAttachments => f.write_str("illegal attachments count"),
            SioError::TooManyAttachments { max } => {
                write!(f, "too many attachments (max {max})")
            }
            SioError::NoAttachments => f.write_str("binary packet without attachments"),
            SioError::InvalidAckId => f.write_str("invalid ack id"),
            SioError::InvalidJson(e) => write!(f, "invalid JSON payload: {e}"),
            SioError::InvalidPayload { kind, reason } => {
                write!(f, "invalid payload for {}: {reason}", kind.name())
            }
            SioError::ReservedEventName(n) => write!(f, "reserved event name {n:?}"),
            SioError::UnexpectedText => {
                f.write_str("got plaintext data when reconstructing a packet")
            }
            SioError::UnexpectedBinary => {
                f.write_str("got binary data when not reconstructing a packet")
            }
            SioError::IllegalPlaceholder => f.write_str("illegal attachment placeholder"),
            SioError::InvalidNamespace(n) => write!(f, "invalid namespace {n:?}"),
            SioError::InvalidArgs => f.write_str("arguments are not a JSON array"),
        }
    }
}

impl std::error::Error for SioError {}

/// An event name: a string, or (the protocol allows it) a number kept as its JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventName {
    /// A string name, unescaped.
    Str(String),
    /// A numeric name, as its JSON text (e.g. `1`, `-2.5e3`).
    Num(Box<str>),
}

impl EventName {
    /// The name as text (the number's JSON text for numeric names).
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            EventName::Str(s) => s,
            EventName::Num(n) => n,
        }
    }

    /// The name as JSON (quoted and escaped for strings).
    #[must_use]
    pub fn to_json(&self) -> String {
        match self {
            EventName::Str(s) => json_string(s),
            EventName::Num(n) => n.to_string(),
        }
    }
}

/// One JSON value kept as its original text (validated, surrounding whitespace
/// trimmed). Compares by text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawJson(Box<str>);

impl RawJson {
    fn from_raw(raw: &RawValue) -> RawJson {
        RawJson(raw.get().into())
    }

    /// The empty object `{}`.
    #[must_use]
    pub fn empty_object() -> RawJson {
        RawJson("{}".into())
    }

    /// Parses and validates JSON text.
    ///
    /// # Errors
    ///
    /// [`SioError::InvalidJson`] if `text` is not one JSON value.
    pub fn parse(text: &str) -> Result<RawJson, SioError> {
        serde_json::from_str::<&RawValue>(text)
            .map(RawJson::from_raw)
            .map_err(|e| SioError::InvalidJson(e.to_string()))
    }

    /// The JSON text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JSON array kept as its original text, with the byte span of each element.
///
/// `as_str()` is the array (`[1,"2",{"3":[true]}]`), `get(i)` the raw text of one
/// element. For an event, the arguments after the name are re-wrapped in `[`…`]`
/// without touching the elements' bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawArgs {
    text: Box<str>,
    spans: SmallVec<[(usize, usize); 4]>,
}

impl Default for RawArgs {
    fn default() -> Self {
        RawArgs {
            text: "[]".into(),
            spans: SmallVec::new(),
        }
    }
}

fn offset_in(base: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(base.as_ptr() as usize)
}

impl RawArgs {
    /// Parses a JSON array text.
    ///
    /// # Errors
    ///
    /// [`SioError::InvalidJson`] if `text` is not JSON, [`SioError::InvalidArgs`] if
    /// it is not an array.
    pub fn parse(text: &str) -> Result<RawArgs, SioError> {
        let raw: &RawValue =
            serde_json::from_str(text).map_err(|e| SioError::InvalidJson(e.to_string()))?;
        let elems = array_elements(raw.get()).ok_or(SioError::InvalidArgs)?;
        Ok(RawArgs::from_elements(raw.get(), &elems, 0))
    }

    /// Builds from the array `full` and its elements, keeping elements `skip..`.
    fn from_elements(full: &str, elems: &[&RawValue], skip: usize) -> RawArgs {
        let kept = elems.get(skip..).unwrap_or_default();
        let (Some(first), Some(last)) = (kept.first(), kept.last()) else {
            return RawArgs::default();
        };
        if skip == 0 {
            let spans = kept
                .iter()
                .map(|e| {
                    let s = offset_in(full, e.get());
                    (s, s + e.get().len())
                })
                .collect();
            return RawArgs {
                text: full.into(),
                spans,
            };
        }
        let start = offset_in(full, first.get());
        let end = offset_in(full, last.get()) + last.get().len();
        let inner = full.get(start..end).unwrap_or_default();
        let mut text = String::with_capacity(inner.len() + 2);
        text.push('[');
        text.push_str(inner);
        text.push(']');
        let spans = kept
            .iter()
            .map(|e| {
                let s = offset_in(full, e.get()) - start + 1;
                (s, s + e.get().len())
            })
            .collect();
        RawArgs {
            text: text.into(),
            spans,
        }
    }

    /// The whole array as JSON text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the array is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The raw JSON text of element `i`.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&str> {
        self.spans.get(i).and_then(|&(s, e)| self.text.get(s..e))
    }

    /// The raw JSON text of each element.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.spans.iter().filter_map(|&(s, e)| self.text.get(s..e))
    }
}

/// The data of a decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketData {
    /// CONNECT with its optional auth payload (raw JSON).
    Connect {
        /// The auth object as sent (`None` when absent).
        auth: Option<RawJson>,
    },
    /// DISCONNECT.
    Disconnect,
    /// EVENT or reassembled BINARY_EVENT.
    Event {
        /// The event name.
        name: EventName,
        /// The arguments after the name.
        args: RawArgs,
        /// The ack id the sender waits for.
        id: Option<u64>,
        /// Binary attachments, in placeholder order (empty for EVENT).
        attachments: Vec<Bytes>,
    },
    /// ACK or reassembled BINARY_ACK.
    Ack {
        /// The ack id answered (`None` if absent: such acks match nothing).
        id: Option<u64>,
        /// The arguments.
        args: RawArgs,
        /// Binary attachments (empty for ACK).
        attachments: Vec<Bytes>,
    },
    /// CONNECT_ERROR (v4: ERROR) with its payload.
    ConnectError {
        /// The payload (string or object) as raw JSON.
        data: Option<RawJson>,
    },
}

/// A decoded Socket.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The namespace as sent (`"/"` when absent; in v4 CONNECT it may carry `?query`).
    pub nsp: String,
    /// What the packet carries.
    pub data: PacketData,
}

impl Packet {
    /// The packet type after reassembly (binary types report as EVENT/ACK once
    /// their attachments are in).
    #[must_use]
    pub fn kind(&self) -> PacketKind {
        match &self.data {
            PacketData::Connect { .. } => PacketKind::Connect,
            PacketData::Disconnect => PacketKind::Disconnect,
            PacketData::Event { .. } => PacketKind::Event,
            PacketData::Ack { .. } => PacketKind::Ack,
            PacketData::ConnectError { .. } => PacketKind::ConnectError,
        }
    }

    fn push_attachment(&mut self, b: Bytes) {
        if let PacketData::Event { attachments, .. } | PacketData::Ack { attachments, .. } =
            &mut self.data
        {
            attachments.push(b);
        }
    }
}

fn array_elements(raw: &str) -> Option<Vec<&RawValue>> {
    if !raw.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<&RawValue>>(raw).ok()
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// Decodes one Socket.IO packet (the Engine.IO message data, without the `4`).
///
/// Returns the packet and the number of binary attachments that must follow
/// (0 for non-binary packets). Prefer [`Decoder`], which collects them.
///
/// # Errors
///
/// Any [`SioError`] decoding variant naming what was wrong.
pub fn decode_packet(
    version: EioVersion,
    max_attachments: usize,
    s: &str,
) -> Result<(Packet, usize), SioError> {
    let b = s.as_bytes();
    let Some(&t) = b.first() else {
        return Err(SioError::Empty);
    };
    let kind = PacketKind::from_byte(t)
        .ok_or_else(|| SioError::UnknownPacketType(s.chars().next().unwrap_or('\0')))?;
    let mut i = 1;
    let mut attachments = 0;
    if matches!(kind, PacketKind::BinaryEvent | PacketKind::BinaryAck) {
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || b.get(i + digits) != Some(&b'-') {
            return Err(SioError::IllegalAttachments);
        }
        // Digits are ASCII, so the slice is on char boundaries.
        let n: usize = s[i..i + digits]
            .parse()
            .map_err(|_| SioError::TooManyAttachments {
                max: max_attachments,
            })?;
        if n > max_attachments {
            return Err(SioError::TooManyAttachments {
                max: max_attachments,
            });
        }
        if n == 0 {
            return Err(SioError::NoAttachments);
        }
        attachments = n;
        i += digits + 1;
    }
    let nsp = if b.get(i) == Some(&b'/') {
        let len = b[i..]
            .iter()
            .position(|&c| c == b',')
            .unwrap_or(b.len() - i);
        // `/` and `,` are ASCII: boundaries are valid.
        let nsp = s[i..i + len].to_owned();
        i += len;
        if i < b.len() {
            i += 1; // the comma
        }
        nsp
    } else {
        "/".to_owned()
    };
    let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let id = if digits > 0 {
        let id: u64 = s[i..i + digits]
            .parse()
            .map_err(|_| SioError::InvalidAckId)?;
        i += digits;
        Some(id)
    } else {
        None
    };
    let rest = &s[i..];
    if rest.starts_with(|c: char| c.is_ascii_whitespace()) {
        return Err(if id.is_some() {
            SioError::InvalidAckId
        } else {
            SioError::InvalidJson("leading whitespace".to_owned())
        });
    }
    let payload: Option<&RawValue> = if rest.is_empty() {
        None
    } else {
        Some(serde_json::from_str(rest).map_err(|e| SioError::InvalidJson(e.to_string()))?)
    };
    let invalid = |reason| SioError::InvalidPayload { kind, reason };
    let data = match kind {
        PacketKind::Connect => {
            if let Some(p) = payload {
                let ok = match version {
                    EioVersion::V4 => p.get().starts_with('{'),
                    EioVersion::V3 => p.get().starts_with(['{', '[']) || p.get() == "null",
                };
                if !ok {
                    return Err(invalid("CONNECT payload must be an object"));
                }
            }
            PacketData::Connect {
                auth: payload.map(RawJson::from_raw),
            }
        }
        PacketKind::Disconnect => {
            if payload.is_some() {
                return Err(invalid("DISCONNECT must not carry a payload"));
            }
            PacketData::Disconnect
        }
        PacketKind::ConnectError => {
            if let Some(p) = payload {
                if !p.get().starts_with(['{', '"']) {
                    return Err(invalid(
                        "CONNECT_ERROR payload must be a string or an object",
                    ));
                }
            }
            PacketData::ConnectError {
                data: payload.map(RawJson::from_raw),
            }
        }
        PacketKind::Event | PacketKind::BinaryEvent => {
            let p = payload.ok_or(invalid("EVENT needs an array payload"))?;
            let elems = array_elements(p.get()).ok_or(invalid("EVENT payload must be an array"))?;
            let first = elems
                .first()
                .ok_or(invalid("EVENT payload must not be empty"))?
                .get();
            let name = if first.starts_with('"') {
                let n: String = serde_json::from_str(first)
                    .map_err(|e| SioError::InvalidJson(e.to_string()))?;
                if version == EioVersion::V4 && roomcast::wire::is_reserved_event(&n) {
                    return Err(SioError::ReservedEventName(n));
                }
                EventName::Str(n)
            } else if first.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
                EventName::Num(first.into())
            } else {
                return Err(invalid("event name must be a string or a number"));
            };
            if attachments > 0 {
                check_placeholders(p.get(), attachments)?;
            }
            PacketData::Event {
                name,
                args: RawArgs::from_elements(p.get(), &elems, 1),
                id,
                attachments: Vec::new(),
            }
        }
        PacketKind::Ack | PacketKind::BinaryAck => {
            let p = payload.ok_or(invalid("ACK needs an array payload"))?;
            let elems = array_elements(p.get()).ok_or(invalid("ACK payload must be an array"))?;
            if attachments > 0 {
                check_placeholders(p.get(), attachments)?;
            }
            PacketData::Ack {
                id,
                args: RawArgs::from_elements(p.get(), &elems, 0),
                attachments: Vec::new(),
            }
        }
    };
    Ok((Packet { nsp, data }, attachments))
}

/// Checks every `{"_placeholder":true,...}` object has an integer `num` in `0..n`.
fn check_placeholders(json: &str, n: usize) -> Result<(), SioError> {
    fn walk(v: &serde_json::Value, n: usize) -> Result<(), SioError> {
        match v {
            serde_json::Value::Array(a) => a.iter().try_for_each(|x| walk(x, n)),
            serde_json::Value::Object(o) => {
                if o.get("_placeholder") == Some(&serde_json::Value::Bool(true)) {
                    match o.get("num").and_then(serde_json::Value::as_u64) {
                        Some(k) if (k as u128) < n as u128 => Ok(()),
                        _ => Err(SioError::IllegalPlaceholder),
                    }
                } else {
                    o.values().try_for_each(|x| walk(x, n))
                }
            }
            _ => Ok(()),
        }
    }
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| SioError::InvalidJson(e.to_string()))?;
    walk(&v, n)
}

/// A stateful decoder: decodes text packets and collects the binary attachments
/// of BINARY_EVENT/BINARY_ACK packets. Holds at most one pending packet with at
/// most `max_attachments` attachments.
#[derive(Debug, Clone)]
pub struct Decoder {
    version: EioVersion,
    max_attachments: usize,
    pending: Option<(Packet, usize)>,
}

impl Decoder {
    /// A decoder for `version` allowing `max_attachments` per packet.
    #[must_use]
    pub fn new(version: EioVersion, max_attachments: usize) -> Decoder {
        Decoder {
            version,
            max_attachments,
            pending: None,
        }
    }

    /// Whether binary attachments are awaited.
    #[must_use]
    pub fn is_reconstructing(&self) -> bool {
        self.pending.is_some()
    }

    /// Decodes a text packet (Engine.IO message data). `Ok(None)` means the packet
    /// awaits binary attachments.
    ///
    /// # Errors
    ///
    /// [`SioError::UnexpectedText`] while attachments are awaited, or any
    /// [`decode_packet`] error.
    pub fn decode_text(&mut self, s: &str) -> Result<Option<Packet>, SioError> {
        if self.pending.is_some() {
            return Err(SioError::UnexpectedText);
        }
        let (packet, n) = decode_packet(self.version, self.max_attachments, s)?;
        if n == 0 {
            Ok(Some(packet))
        } else {
            self.pending = Some((packet, n));
            Ok(None)
        }
    }

    /// Adds a binary attachment. Returns the packet once the last one arrived.
    ///
    /// # Errors
    ///
    /// [`SioError::UnexpectedBinary`] when no attachment is awaited.
    pub fn decode_binary(&mut self, data: Bytes) -> Result<Option<Packet>, SioError> {
        let Some((packet, remaining)) = self.pending.as_mut() else {
            return Err(SioError::UnexpectedBinary);
        };
        packet.push_attachment(data);
        *remaining -= 1;
        if *remaining == 0 {
            Ok(self.pending.take().map(|(p, _)| p))
        } else {
            Ok(None)
        }
    }
}

fn check_nsp(nsp: &str) -> Result<(), SioError> {
    if nsp.starts_with('/') && !nsp.contains(',') {
        Ok(())
    } else {
        Err(SioError::InvalidNamespace(nsp.to_owned()))
    }
}

/// `4<type>[<n>-][<nsp>,][<id>]` into a new string.
fn header(
    kind: u8,
    attachments: Option<usize>,
    nsp: &str,
    id: Option<u64>,
    extra: usize,
) -> Result<String, SioError> {
    check_nsp(nsp)?;
    let mut s = String::with_capacity(nsp.len() + extra + 24);
    s.push('4');
    s.push(char::from(kind));
    if let Some(n) = attachments {
        s.push_str(&n.to_string());
        s.push('-');
    }
    if nsp != "/" {
        s.push_str(nsp);
        s.push(',');
    }
    if let Some(id) = id {
        s.push_str(&id.to_string());
    }
    Ok(s)
}

/// The inner text of a JSON array (between the brackets, trimmed).
fn array_inner(args: &str) -> Result<&str, SioError> {
    let raw: &RawValue = serde_json::from_str(args).map_err(|_| SioError::InvalidArgs)?;
    let t = raw.get();
    if !t.starts_with('[') {
        return Err(SioError::InvalidArgs);
    }
    Ok(t[1..t.len() - 1].trim())
}

/// CONNECT reply: v5 `40{"sid":"…"}` / `40/nsp,{"sid":"…"}`; v4 `40` / `40/nsp,`
/// (v4 clients compute their socket id, so `sid` is not sent).
///
/// # Errors
///
/// [`SioError::InvalidNamespace`].
pub fn encode_connect(version: EioVersion, nsp: &str, sid: &str) -> Result<String, SioError> {
    let mut s = header(b'0', None, nsp, None, sid.len() + 10)?;
    if version == EioVersion::V4 {
        s.push_str("{\"sid\":");
        s.push_str(&json_string(sid));
        s.push('}');
    }
    Ok(s)
}

/// CONNECT_ERROR. v5: `44/nsp,{"message":…,"data":…}` (`data` omitted when `None`).
/// v4 (EIO3) clients get `err.data || err.message`: the raw `data` if it is an
/// object or a non-empty string, else the message as a JSON string (PROTOCOL-NOTES
/// §2.5; other JSON types would not decode as an ERROR payload, and a number would
/// even read as an ack id). `data` is raw JSON.
///
/// # Errors
///
/// [`SioError::InvalidNamespace`]; [`SioError::InvalidJson`] if `data` is not JSON.
pub fn encode_connect_error(
    version: EioVersion,
    nsp: &str,
    message: &str,
    data: Option<&str>,
) -> Result<String, SioError> {
    let data = match data {
        Some(d) => Some(
            serde_json::from_str::<&RawValue>(d)
                .map_err(|e| SioError::InvalidJson(e.to_string()))?
                .get(),
        ),
        None => None,
    };
    let mut s = header(b'4', None, nsp, None, message.len() + 32)?;
    match (version, data) {
        (EioVersion::V4, _) => {
            s.push_str("{\"message\":");
            s.push_str(&json_string(message));
            if let Some(d) = data {
                s.push_str(",\"data\":");
                s.push_str(d);
            }
            s.push('}');
        }
        (EioVersion::V3, Some(d)) if d.starts_with('{') || (d.starts_with('"') && d != "\"\"") => {
            s.push_str(d);
        }
        (EioVersion::V3, _) => s.push_str(&json_string(message)),
    }
    Ok(s)
}

/// DISCONNECT: `41` / `41/nsp,`.
///
/// # Errors
///
/// [`SioError::InvalidNamespace`].
pub fn encode_disconnect(nsp: &str) -> Result<String, SioError> {
    header(b'1', None, nsp, None, 0)
}

fn event_body(s: &mut String, name: &str, args: &str) -> Result<(), SioError> {
    if roomcast::wire::is_reserved_event(name) {
        return Err(SioError::ReservedEventName(name.to_owned()));
    }
    let inner = array_inner(args)?;
    s.push('[');
    s.push_str(&json_string(name));
    if !inner.is_empty() {
        s.push(',');
        s.push_str(inner);
    }
    s.push(']');
    Ok(())
}

/// EVENT: `42[/nsp,][id]["name",…args]`. `args` is the arguments as a raw JSON
/// array (`[]` for none); its elements are copied byte for byte.
///
/// # Errors
///
/// [`SioError::ReservedEventName`], [`SioError::InvalidArgs`],
/// [`SioError::InvalidNamespace`].
pub fn encode_event(
    nsp: &str,
    name: &str,
    args: &str,
    id: Option<u64>,
) -> Result<String, SioError> {
    let mut s = header(b'2', None, nsp, id, name.len() + args.len() + 4)?;
    event_body(&mut s, name, args)?;
    Ok(s)
}

/// ACK: `43[/nsp,]<id>[…]` from a raw JSON array, kept byte for byte.
///
/// # Errors
///
/// [`SioError::InvalidArgs`], [`SioError::InvalidNamespace`].
pub fn encode_ack(nsp: &str, id: u64, args: &str) -> Result<String, SioError> {
    let inner = array_inner(args)?;
    let mut s = header(b'3', None, nsp, Some(id), args.len())?;
    s.push('[');
    s.push_str(inner);
    s.push(']');
    Ok(s)
}

/// BINARY_EVENT: `45<n>-[/nsp,][id]["name",…]` then one binary message per
/// attachment, framed for `version` (v3 `0x04`-prefixed, or `b4<base64>` text when
/// `b64`). `args` must hold the placeholders `{"_placeholder":true,"num":i}`.
/// With no attachments this is a plain EVENT.
///
/// # Errors
///
/// As [`encode_event`].
pub fn encode_binary_event(
    version: EioVersion,
    b64: bool,
    nsp: &str,
    name: &str,
    args: &str,
    id: Option<u64>,
    attachments: &[Bytes],
) -> Result<Vec<WsMessage>, SioError> {
    if attachments.is_empty() {
        return Ok(vec![WsMessage::Text(encode_event(nsp, name, args, id)?)]);
    }
    let mut s = header(
        b'5',
        Some(attachments.len()),
        nsp,
        id,
        name.len() + args.len() + 4,
    )?;
    event_body(&mut s, name, args)?;
    let mut out = Vec::with_capacity(attachments.len() + 1);
    out.push(WsMessage::Text(s));
    out.extend(attachments.iter().map(|a| encode_binary(version, b64, a)));
    Ok(out)
}

/// BINARY_ACK: `46<n>-[/nsp,]<id>[…]` then the attachments (see
/// [`encode_binary_event`]). With no attachments this is a plain ACK.
///
/// # Errors
///
/// As [`encode_ack`].
pub fn encode_binary_ack(
    version: EioVersion,
    b64: bool,
    nsp: &str,
    id: u64,
    args: &str,
    attachments: &[Bytes],
) -> Result<Vec<WsMessage>, SioError> {
    if attachments.is_empty() {
        return Ok(vec![WsMessage::Text(encode_ack(nsp, id, args)?)]);
    }
    let inner = array_inner(args)?;
    let mut s = header(b'6', Some(attachments.len()), nsp, Some(id), args.len())?;
    s.push('[');
    s.push_str(inner);
    s.push(']');
    let mut out = Vec::with_capacity(attachments.len() + 1);
    out.push(WsMessage::Text(s));
    out.extend(attachments.iter().map(|a| encode_binary(version, b64, a)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use EioVersion::{V3, V4};

    fn dec(v: EioVersion, s: &str) -> Result<Packet, SioError> {
        decode_packet(v, DEFAULT_MAX_ATTACHMENTS, s).map(|(p, _)| p)
    }

    fn event(p: &Packet) -> (&EventName, &RawArgs, Option<u64>) {
        match &p.data {
            PacketData::Event { name, args, id, .. } => (name, args, *id),
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn connect_variants() {
        let p = dec(V4, "0").unwrap();
        assert_eq!(p.nsp, "/");
        assert_eq!(p.data, PacketData::Connect { auth: None });
        let p = dec(V4, "0{\"token\":\"123\"}").unwrap();
        let PacketData::Connect { auth: Some(a) } = &p.data else {
            panic!()
        };
        assert_eq!(a.as_str(), "{\"token\":\"123\"}");
        let p = dec(V4, "0/admin,{\"token\":\"abc\"}").unwrap();
        assert_eq!(p.nsp, "/admin");
        assert_eq!(dec(V4, "0/custom").unwrap().nsp, "/custom");
        assert!(matches!(dec(V4, "0custom,"), Err(SioError::InvalidJson(_))));
        for bad in ["0[]", "0\"x\"", "0null", "0/a,true"] {
            assert!(
                matches!(dec(V4, bad), Err(SioError::InvalidPayload { .. })),
                "{bad}"
            );
        }
        // v4 is looser: arrays and null pass.
        assert!(dec(V3, "0[]").is_ok());
        assert!(dec(V3, "0null").is_ok());
        assert!(dec(V3, "0\"x\"").is_err());
        assert_eq!(
            dec(V3, "0/admin?token=abc,").unwrap().nsp,
            "/admin?token=abc"
        );
    }

    #[test]
    fn disconnect_and_errors() {
        assert_eq!(dec(V4, "1").unwrap().data, PacketData::Disconnect);
        assert_eq!(dec(V4, "1/admin,").unwrap().nsp, "/admin");
        assert!(matches!(
            dec(V4, "1{}"),
            Err(SioError::InvalidPayload {
                kind: PacketKind::Disconnect,
                ..
            })
        ));
        assert!(dec(V4, "4{\"message\":\"x\"}").is_ok());
        assert!(dec(V4, "4\"x\"").is_ok());
        assert!(dec(V4, "4").is_ok());
        assert!(matches!(
            dec(V4, "4[1]"),
            Err(SioError::InvalidPayload { .. })
        ));
        assert_eq!(dec(V4, ""), Err(SioError::Empty));
        assert_eq!(dec(V4, "abc"), Err(SioError::UnknownPacketType('a')));
        assert_eq!(dec(V4, "7"), Err(SioError::UnknownPacketType('7')));
    }

    #[test]
    fn events() {
        let p = dec(V4, "2[\"message-back\",1,\"2\",{\"3\":[true]}]").unwrap();
        let (name, args, id) = event(&p);
        assert_eq!(name, &EventName::Str("message-back".into()));
        assert_eq!(args.as_str(), "[1,\"2\",{\"3\":[true]}]");
        assert_eq!(args.len(), 3);
        assert_eq!(args.get(2), Some("{\"3\":[true]}"));
        assert_eq!(id, None);
        let p = dec(V4, "2/admin,13[\"project:delete\",123]").unwrap();
        assert_eq!(p.nsp, "/admin");
        let (name, args, id) = event(&p);
        assert_eq!(name.as_str(), "project:delete");
        assert_eq!(args.as_str(), "[123]");
        assert_eq!(id, Some(13));
        let p = dec(V4, "2[1,\"x\"]").unwrap();
        assert_eq!(event(&p).0, &EventName::Num("1".into()));
        let p = dec(V4, "2[\"only\"]").unwrap();
        assert_eq!(event(&p).1.as_str(), "[]");
        assert!(event(&p).1.is_empty());
        // whitespace inside the array is kept verbatim between args
        let p = dec(V4, "2[ \"a\" , 1 ,  {\"b\": 2} ]").unwrap();
        assert_eq!(event(&p).1.as_str(), "[1 ,  {\"b\": 2}]");
        assert_eq!(event(&p).1.iter().collect::<Vec<_>>(), ["1", "{\"b\": 2}"]);
    }

    #[test]
    fn event_rejections() {
        for bad in [
            "2{}",
            "2[]",
            "2[null]",
            "2[{}]",
            "2",
            "2\"x\"",
            "2[\"a\"",
            "2[\"a\"]x",
        ] {
            assert!(dec(V4, bad).is_err(), "{bad}");
        }
        assert_eq!(
            dec(V4, "2[\"disconnect\"]"),
            Err(SioError::ReservedEventName("disconnect".into()))
        );
        // v4 (EIO3) has no reserved-name check.
        assert!(dec(V3, "2[\"disconnect\"]").is_ok());
        // strict ack ids
        assert_eq!(dec(V4, "21 [\"a\"]"), Err(SioError::InvalidAckId));
        assert!(dec(V4, "2 [\"a\"]").is_err());
        assert_eq!(
            dec(V4, "299999999999999999999[\"a\"]"),
            Err(SioError::InvalidAckId)
        );
    }

    #[test]
    fn acks() {
        let p = dec(V4, "3456[1,\"2\",{\"3\":[false]}]").unwrap();
        let PacketData::Ack { id, args, .. } = &p.data else {
            panic!()
        };
        assert_eq!(*id, Some(456));
        assert_eq!(args.as_str(), "[1,\"2\",{\"3\":[false]}]");
        assert!(dec(V4, "313[]").is_ok());
        assert!(dec(V4, "313{}").is_err());
        assert!(dec(V4, "313").is_err());
    }

    #[test]
    fn binary_headers() {
        let (p, n) =
            decode_packet(V4, 10, "51-[\"hi\",{\"_placeholder\":true,\"num\":0}]").unwrap();
        assert_eq!(n, 1);
        assert_eq!(event(&p).1.as_str(), "[{\"_placeholder\":true,\"num\":0}]");
        let (_, n) = decode_packet(
            V4,
            10,
            "62-789[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
        )
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(dec(V4, "50-[\"a\"]"), Err(SioError::NoAttachments));
        assert_eq!(
            dec(V4, "511-[\"a\"]"),
            Err(SioError::TooManyAttachments { max: 10 })
        );
        assert_eq!(dec(V4, "5-[\"a\"]"), Err(SioError::IllegalAttachments));
        assert_eq!(dec(V4, "51[\"a\"]"), Err(SioError::IllegalAttachments));
        assert_eq!(dec(V4, "5a-[\"a\"]"), Err(SioError::IllegalAttachments));
        assert_eq!(
            dec(V4, "599999999999999999999999-[\"a\"]"),
            Err(SioError::TooManyAttachments { max: 10 })
        );
        assert_eq!(
            dec(V4, "51-[\"a\",{\"_placeholder\":true,\"num\":1}]"),
            Err(SioError::IllegalPlaceholder)
        );
        assert_eq!(
            dec(V4, "51-[\"a\",{\"_placeholder\":true,\"num\":\"0\"}]"),
            Err(SioError::IllegalPlaceholder)
        );
        assert_eq!(
            dec(V4, "51-[\"a\",[{\"x\":{\"_placeholder\":true}}]]"),
            Err(SioError::IllegalPlaceholder)
        );
    }

    #[test]
    fn reassembly() {
        let mut d = Decoder::new(V4, 10);
        assert_eq!(
            d.decode_binary(Bytes::from_static(b"x")),
            Err(SioError::UnexpectedBinary)
        );
        let mut d = Decoder::new(V4, 10);
        assert_eq!(
            d.decode_text("52-/admin,7[\"hi\",{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]"),
            Ok(None)
        );
        assert!(d.is_reconstructing());
        assert_eq!(d.decode_text("2[\"x\"]"), Err(SioError::UnexpectedText));
        let mut d = Decoder::new(V4, 10);
        d.decode_text("51-[\"hi\",{\"_placeholder\":true,\"num\":0}]")
            .unwrap();
        let p = d.decode_binary(Bytes::from_static(&[9])).unwrap().unwrap();
        let PacketData::Event { attachments, .. } = &p.data else {
            panic!()
        };
        assert_eq!(attachments, &[Bytes::from_static(&[9])]);
        assert!(!d.is_reconstructing());
    }

    #[test]
    fn encoders() {
        assert_eq!(
            encode_connect(V4, "/", "abc").unwrap(),
            "40{\"sid\":\"abc\"}"
        );
        assert_eq!(
            encode_connect(V4, "/admin", "x").unwrap(),
            "40/admin,{\"sid\":\"x\"}"
        );
        assert_eq!(encode_connect(V3, "/", "x").unwrap(), "40");
        assert_eq!(encode_connect(V3, "/admin", "x").unwrap(), "40/admin,");
        assert_eq!(
            encode_connect_error(V4, "/random", "Invalid namespace", None).unwrap(),
            "44/random,{\"message\":\"Invalid namespace\"}"
        );
        assert_eq!(
            encode_connect_error(V4, "/auth", "Not authorized", Some("{\"reason\":\"x\"}"))
                .unwrap(),
            "44/auth,{\"message\":\"Not authorized\",\"data\":{\"reason\":\"x\"}}"
        );
        assert_eq!(
            encode_connect_error(V3, "/auth", "Not authorized", Some("{\"reason\":\"x\"}"))
                .unwrap(),
            "44/auth,{\"reason\":\"x\"}"
        );
        assert_eq!(
            encode_connect_error(V3, "/auth2", "Not authorized", None).unwrap(),
            "44/auth2,\"Not authorized\""
        );
        assert_eq!(
            encode_connect_error(V3, "/random", "Invalid namespace", None).unwrap(),
            "44/random,\"Invalid namespace\""
        );
        // v3: data that is not an object or a string falls back to the message
        assert_eq!(
            encode_connect_error(V3, "/", "m", Some("5")).unwrap(),
            "44\"m\""
        );
        assert_eq!(
            encode_connect_error(V3, "/", "m", Some("\"why\"")).unwrap(),
            "44\"why\""
        );
        assert_eq!(encode_disconnect("/").unwrap(), "41");
        assert_eq!(encode_disconnect("/admin").unwrap(), "41/admin,");
        assert_eq!(
            encode_event("/", "message-back", "[1,\"2\",{\"3\":[true]}]", None).unwrap(),
            "42[\"message-back\",1,\"2\",{\"3\":[true]}]"
        );
        assert_eq!(
            encode_event("/a", "x", "[]", Some(5)).unwrap(),
            "42/a,5[\"x\"]"
        );
        assert_eq!(
            encode_event("/", "connect", "[]", None),
            Err(SioError::ReservedEventName("connect".into()))
        );
        assert_eq!(
            encode_event("/", "x", "{}", None),
            Err(SioError::InvalidArgs)
        );
        assert_eq!(
            encode_event("a", "x", "[]", None),
            Err(SioError::InvalidNamespace("a".into()))
        );
        assert_eq!(
            encode_ack("/", 456, "[1,\"2\",{\"3\":[false]}]").unwrap(),
            "43456[1,\"2\",{\"3\":[false]}]"
        );
        let one = [Bytes::from_static(&[1])];
        let m = encode_binary_ack(
            V4,
            false,
            "/",
            0,
            "[\"ok\",{\"_placeholder\":true,\"num\":0}]",
            &one,
        )
        .unwrap();
        assert_eq!(
            m,
            vec![
                WsMessage::Text("461-0[\"ok\",{\"_placeholder\":true,\"num\":0}]".into()),
                WsMessage::Binary(Bytes::from_static(&[1]))
            ]
        );
        let m = encode_binary_ack(
            V3,
            false,
            "/",
            0,
            "[\"ok\",{\"_placeholder\":true,\"num\":0}]",
            &one,
        )
        .unwrap();
        assert_eq!(m[1], WsMessage::Binary(Bytes::from_static(&[4, 1])));
        let m = encode_binary_event(
            V4,
            false,
            "/admin",
            "e",
            "[{\"_placeholder\":true,\"num\":0}]",
            Some(3),
            &one,
        )
        .unwrap();
        assert_eq!(
            m[0].as_text(),
            Some("451-/admin,3[\"e\",{\"_placeholder\":true,\"num\":0}]")
        );
    }
}
