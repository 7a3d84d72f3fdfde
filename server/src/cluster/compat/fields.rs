//! Reading and writing the fields of adapter messages, whichever encoding they
//! came in: a request or response is JSON when its first byte is `{` and
//! MessagePack otherwise (the adapter's own rule, `msg[0] === 0x7b`); both are
//! read into one [`rmpv::Value`] tree (JSON through [`notepack::from_json`],
//! checked against the same limits) so one set of accessors reads both.

use rmpv::Value;
use serde_json::Value as Json;

use super::error::CompatError;
use super::notepack;

/// How a message was (or is to be) encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// JSON text (first byte `{`).
    Json,
    /// notepack MessagePack.
    Msgpack,
}

/// Decodes a request or response document.
///
/// # Errors
///
/// Malformed JSON or MessagePack, limits exceeded, a JSON placeholder.
pub(crate) fn decode_document(bytes: &[u8]) -> Result<(Value, Format), CompatError> {
    if bytes.first() == Some(&b'{') {
        let json: Json =
            serde_json::from_slice(bytes).map_err(|e| CompatError::Json(e.to_string()))?;
        notepack::check_json(&json)?;
        Ok((notepack::from_json(&json, &[])?, Format::Json))
    } else {
        Ok((notepack::decode(bytes)?, Format::Msgpack))
    }
}

/// Encodes a document in `format`.
///
/// # Errors
///
/// A binary value in a JSON document.
pub(crate) fn encode_document(value: &Value, format: Format) -> Result<Vec<u8>, CompatError> {
    match format {
        Format::Msgpack => Ok(notepack::encode(value)),
        Format::Json => Ok(serde_json::to_vec(&plain_json(value)?)
            .map_err(|e| CompatError::Json(e.to_string()))?),
    }
}

/// A map's entries.
pub(crate) fn map<'a>(
    v: &'a Value,
    what: &'static str,
) -> Result<&'a [(Value, Value)], CompatError> {
    match v {
        Value::Map(m) => Ok(m),
        _ => Err(CompatError::Shape(what)),
    }
}

/// The value of `key` (the last one if repeated, as `JSON.parse` and notepack
/// keep it).
pub(crate) fn get<'a>(m: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    m.iter()
        .rev()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// A string.
pub(crate) fn string(v: &Value, what: &'static str) -> Result<String, CompatError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or(CompatError::Shape(what))
}

/// A list of strings (room names, socket ids).
pub(crate) fn strings(v: &Value, what: &'static str) -> Result<Vec<String>, CompatError> {
    match v {
        Value::Array(a) => a.iter().map(|s| string(s, what)).collect(),
        _ => Err(CompatError::Shape(what)),
    }
}

/// An optional list of strings (absent → empty).
pub(crate) fn opt_strings(
    v: Option<&Value>,
    what: &'static str,
) -> Result<Vec<String>, CompatError> {
    v.map_or(Ok(Vec::new()), |v| strings(v, what))
}

/// A value that carries no binary, as JSON.
pub(crate) fn plain_json(v: &Value) -> Result<Json, CompatError> {
    let mut att = Vec::new();
    let j = notepack::to_json(v, &mut att)?;
    if att.is_empty() {
        Ok(j)
    } else {
        Err(CompatError::Shape("binary outside packet data"))
    }
}

/// A JSON value (no placeholders) as a tree.
pub(crate) fn from_plain_json(j: &Json) -> Result<Value, CompatError> {
    Ok(notepack::from_json(j, &[])?)
}

/// Parses JSON text handed in by the caller (event arguments) into a tree,
/// with `attachments` for its placeholders.
pub(crate) fn parse_json(text: &str, attachments: &[bytes::Bytes]) -> Result<Value, CompatError> {
    let j: Json = serde_json::from_str(text).map_err(|e| CompatError::Json(e.to_string()))?;
    Ok(notepack::from_json(&j, attachments)?)
}

/// A map from `(key, value)` pairs, in order.
pub(crate) fn map_of(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

/// A list of strings.
pub(crate) fn strings_value(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::from(s.as_str())).collect())
}
