//! [`Body`]: a request's `data` as the JSON text the client sent — validated,
//! never re-serialized — and parsed into a [`Value`] only if someone asks.
//!
//! Built-in routes read their fields straight from the text
//! ([`Body::fields`]) and forward `data` byte for byte into the broadcast frame,
//! so key order and number formatting (`1.50`) survive and a broadcast costs no
//! JSON tree. Application routes can still use the body as a [`Value`]: `Body`
//! dereferences to one (parsed once, on first use).

use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

/// See the module docs.
#[derive(Clone)]
pub struct Body {
    raw: Box<RawValue>,
    value: OnceLock<Value>,
}

impl Body {
    /// The `null` body (absent data).
    #[must_use]
    pub fn null() -> Body {
        Body::from_raw(RawValue::from_string("null".to_owned()).expect("null is JSON"))
    }

    /// A body from validated JSON text.
    #[must_use]
    pub fn from_raw(raw: Box<RawValue>) -> Body {
        Body {
            raw,
            value: OnceLock::new(),
        }
    }

    /// The JSON text as sent (surrounding whitespace trimmed).
    #[must_use]
    pub fn raw(&self) -> &RawValue {
        &self.raw
    }

    /// The body as a [`Value`] (parsed on first use).
    #[must_use]
    pub fn value(&self) -> &Value {
        self.value
            .get_or_init(|| serde_json::from_str(self.raw.get()).unwrap_or(Value::Null))
    }

    /// The body's fields, borrowed from its text, if it is an object (`None` for
    /// `null`; `Err` with the JSON type name for anything else). A repeated key
    /// keeps every occurrence; [`field`] reads the last, as a parser into a map
    /// would.
    ///
    /// # Errors
    ///
    /// The JSON type of a body that is neither an object nor `null`.
    pub fn fields(&self) -> Result<Option<RawFields<'_>>, &'static str> {
        match json_type_of(&self.raw) {
            "null" => Ok(None),
            "an object" => serde_json::from_str::<RawFields<'_>>(self.raw.get())
                .map(Some)
                .map_err(|_| "an object"),
            other => Err(other),
        }
    }
}

/// An object's fields as `(key, raw value)` pairs, in order.
#[derive(Debug, Default)]
pub struct RawFields<'a>(pub Vec<(String, &'a RawValue)>);

/// The last value of `key` in `fields`.
#[must_use]
pub fn field<'a>(fields: &RawFields<'a>, key: &str) -> Option<&'a RawValue> {
    fields
        .0
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| *v)
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for RawFields<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawFields<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFields<'a>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(4).min(16));
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(RawFields(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// Most nesting of arrays and objects accepted in JSON kept as text (what
/// serde_json allows when it parses into a tree): deeper documents are refused,
/// so nobody has to parse them — not this server, not the clients it forwards to.
pub const MAX_JSON_DEPTH: usize = 128;

/// Whether `text` (valid JSON) nests arrays and objects at most `max` deep. One
/// pass over the bytes, strings skipped.
#[must_use]
pub fn depth_within(text: &str, max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// The JSON type of raw JSON text, as an error message names it ("a string").
#[must_use]
pub fn json_type_of(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

impl Deref for Body {
    type Target = Value;
    fn deref(&self) -> &Value {
        self.value()
    }
}

impl From<Value> for Body {
    fn from(v: Value) -> Body {
        let raw = serde_json::value::to_raw_value(&v)
            .unwrap_or_else(|_| RawValue::from_string("null".to_owned()).expect("null is JSON"));
        Body {
            raw,
            value: OnceLock::from(v),
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Body({})", self.raw.get())
    }
}

/// Bodies compare as JSON values.
impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        self.value() == other.value()
    }
}

impl PartialEq<Value> for Body {
    fn eq(&self, other: &Value) -> bool {
        self.value() == other
    }
}

/// Serialized as the text it holds, unchanged.
impl serde::Serialize for Body {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_text_is_kept_and_fields_are_borrowed() {
        let raw: Box<RawValue> =
            serde_json::from_str(r#" {"rooms":"r","data":{"b":1.50,"a":[]},"data":2} "#).unwrap();
        let body = Body::from_raw(raw);
        let fields = body.fields().unwrap().unwrap();
        assert_eq!(field(&fields, "rooms").unwrap().get(), r#""r""#);
        assert_eq!(
            field(&fields, "data").unwrap().get(),
            "2",
            "the last repeat wins"
        );
        assert_eq!(fields.0[1].1.get(), r#"{"b":1.50,"a":[]}"#);
        assert_eq!(body["rooms"], "r");
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"rooms":"r","data":{"b":1.50,"a":[]},"data":2}"#
        );
        assert!(Body::null().fields().unwrap().is_none());
        let list = Body::from(serde_json::json!([1]));
        assert_eq!(list.fields().unwrap_err(), "an array");
        assert_eq!(
            Body::from(serde_json::json!({"x": 1})),
            serde_json::json!({"x": 1})
        );
    }

    #[test]
    fn nesting_depth_is_counted_outside_strings() {
        assert!(depth_within("[[1]]", 2));
        assert!(!depth_within("[[[1]]]", 2));
        assert!(depth_within(r#"["[[[[", "\"[[[[", {"a": "]]]]"}]"#, 2));
        assert!(!depth_within(
            &format!("{}{}", "[".repeat(129), "]".repeat(129)),
            MAX_JSON_DEPTH
        ));
        assert!(depth_within(
            &format!(
                "{}{}",
                "{\"a\":".repeat(128),
                "1".to_owned() + &"}".repeat(128)
            ),
            MAX_JSON_DEPTH
        ));
    }
}
