//! Decoding Socket.IO packets: [`decode_packet`] for one text packet, and the
//! [`Decoder`], which also collects the binary attachments of BINARY_EVENT and
//! BINARY_ACK packets.
//!
//! Follows socket.io-parser 4.2.x, made strict where the reference is sloppy: the
//! namespace is read only if the next character is `/`, up to `,` or the end; the
//! ack id is plain decimal digits (a space is rejected); the JSON tail must parse
//! and match the type (CONNECT an object — v4 also array/null —, DISCONNECT
//! nothing, EVENT a non-empty array whose first element is a number or a string
//! that, in v5, is not a reserved name, ACK an array, CONNECT_ERROR a string or
//! object). EVENT and ACK must carry their array. BINARY_EVENT/BINARY_ACK declare
//! `1..=max_attachments` attachments and every `{"_placeholder":true,"num":N}`
//! must have `N` in range. Every decoding error is fatal to the engine connection
//! (socket.io closes it).

use bytes::Bytes;
use serde_json::value::RawValue;

use super::packet::{EventName, Packet, PacketData, PacketKind, SioError};
use super::raw_json::{array_elements, RawArgs, RawJson};
use crate::protocol::eio::EioVersion;

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
    /// Most bytes one packet may hold, its header and every attachment together.
    max_bytes: usize,
    /// A binary packet under reassembly, the attachments still awaited, and the
    /// bytes it holds so far.
    pending: Option<(Packet, usize, usize)>,
}

impl Decoder {
    /// A decoder for `version` allowing `max_attachments` per packet, of any size.
    #[must_use]
    pub fn new(version: EioVersion, max_attachments: usize) -> Decoder {
        Decoder::with_max_bytes(version, max_attachments, usize::MAX)
    }

    /// A decoder that also refuses a packet whose header and attachments together
    /// pass `max_bytes` ([`SioError::PacketTooLarge`]), so a client cannot pin
    /// memory by announcing attachments and sending them one large message at a
    /// time.
    #[must_use]
    pub fn with_max_bytes(
        version: EioVersion,
        max_attachments: usize,
        max_bytes: usize,
    ) -> Decoder {
        Decoder {
            version,
            max_attachments,
            max_bytes,
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
            self.pending = Some((packet, n, s.len()));
            Ok(None)
        }
    }

    /// Adds a binary attachment. Returns the packet once the last one arrived.
    ///
    /// # Errors
    ///
    /// [`SioError::UnexpectedBinary`] when no attachment is awaited;
    /// [`SioError::PacketTooLarge`] when the packet would pass the byte limit (the
    /// partial packet is dropped).
    pub fn decode_binary(&mut self, data: Bytes) -> Result<Option<Packet>, SioError> {
        let Some((packet, remaining, bytes)) = self.pending.as_mut() else {
            return Err(SioError::UnexpectedBinary);
        };
        *bytes = bytes.saturating_add(data.len());
        if *bytes > self.max_bytes {
            self.pending = None;
            return Err(SioError::PacketTooLarge {
                max: self.max_bytes,
            });
        }
        packet.push_attachment(data);
        *remaining -= 1;
        if *remaining == 0 {
            Ok(self.pending.take().map(|(p, _, _)| p))
        } else {
            Ok(None)
        }
    }
}

/// A namespace must start with `/` and hold no `,`.
pub(crate) fn check_nsp(nsp: &str) -> Result<(), SioError> {
    if nsp.starts_with('/') && !nsp.contains(',') {
        Ok(())
    } else {
        Err(SioError::InvalidNamespace(nsp.to_owned()))
    }
}
