//! [`RawJson`] and [`RawArgs`]: JSON kept as the text the client sent, so
//! arguments are forwarded byte for byte (key order and number formatting kept).

use std::fmt;

use serde_json::value::RawValue;
use smallvec::SmallVec;

use super::error::SioError;

/// One JSON value kept as its original text (validated, surrounding whitespace
/// trimmed). Compares by text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawJson(Box<str>);

impl RawJson {
    pub(crate) fn from_raw(raw: &RawValue) -> RawJson {
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
    pub(crate) fn from_elements(full: &str, elems: &[&RawValue], skip: usize) -> RawArgs {
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

/// The elements of a JSON array text, or `None` if it is not an array.
pub(crate) fn array_elements(raw: &str) -> Option<Vec<&RawValue>> {
    if !raw.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<&RawValue>>(raw).ok()
}
