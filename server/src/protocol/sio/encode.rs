//! Encoding Socket.IO packets: each `encode_*` returns complete Engine.IO message
//! payloads (with the `4` prefix): `40{"sid":"…"}`, `43<id>[…]`, …; binary
//! packets return their text header and one message per attachment.

use bytes::Bytes;
use serde_json::value::RawValue;

use super::decode::check_nsp;
use super::packet::{json_string, SioError};
use crate::protocol::eio::{encode_binary, EioVersion, WsMessage};

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
