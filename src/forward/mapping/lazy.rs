//! A stored event as a template value that is read only as far as the template looks.
//!
//! Reading a whole CloudEvent into template values costs more than rendering a typical mapping
//! (each key and string allocated, each map built), while a template reads a dozen fields. So
//! an object is split into its keys and the spans of their raw JSON once, and a field becomes a
//! value the first time the template asks for it (nested objects alike); every later use of
//! it, like the `event.data` in front of each field, is a lookup.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::Value;
use serde::de::{Deserializer as _, MapAccess, Visitor};
use serde_json::value::RawValue;

/// An event's CloudEvents JSON as a template value (a map).
pub(super) fn event(json: &str) -> Result<Value, serde_json::Error> {
    let text: Arc<str> = Arc::from(json);
    let map = JsonMap::read(&text, 0..text.len())?;
    Ok(Value::from_object(map))
}

/// One JSON object of the event's text: its fields in document order.
#[derive(Debug)]
struct JsonMap {
    text: Arc<str>,
    fields: Vec<Field>,
}

#[derive(Debug)]
struct Field {
    key: Box<str>,
    /// The raw JSON of the value, in `text`.
    span: Range<usize>,
    value: OnceLock<Value>,
}

impl JsonMap {
    /// The object at `span` of `text`, its values left unread.
    fn read(text: &Arc<str>, span: Range<usize>) -> Result<Self, serde_json::Error> {
        let json = text.get(span.clone()).unwrap_or_default();
        let mut de = serde_json::Deserializer::from_str(json);
        let raw = de.deserialize_map(Spans { base: json })?;
        de.end()?;
        let fields = raw
            .into_iter()
            .map(|(key, at)| Field {
                key,
                span: span.start + at.start..span.start + at.end,
                value: OnceLock::new(),
            })
            .collect();
        Ok(Self {
            text: text.clone(),
            fields,
        })
    }

    fn value(&self, field: &Field) -> Value {
        field
            .value
            .get_or_init(|| {
                let raw = self.text.get(field.span.clone()).unwrap_or_default();
                let read = if raw.starts_with('{') {
                    Self::read(&self.text, field.span.clone()).map(Value::from_object)
                } else {
                    serde_json::from_str::<Value>(raw)
                };
                // The text was checked as JSON when its spans were taken.
                read.unwrap_or_default()
            })
            .clone()
    }
}

impl Object for JsonMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        // Last one wins, as when JSON is read into a map.
        let field = self.fields.iter().rev().find(|f| &*f.key == key)?;
        Some(self.value(field))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys: Vec<Value> = self.fields.iter().map(|f| Value::from(&*f.key)).collect();
        Enumerator::Values(keys)
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.fields.len())
    }
}

/// Reads one JSON object into its keys and the spans of their raw values within `base`.
struct Spans<'a> {
    base: &'a str,
}

impl<'de> Visitor<'de> for Spans<'_> {
    type Value = Vec<(Box<str>, Range<usize>)>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(12));
        while let Some((key, raw)) = map.next_entry::<String, &'de RawValue>()? {
            // A borrowed raw value lies inside the text being read.
            let start = raw.get().as_ptr() as usize - self.base.as_ptr() as usize;
            fields.push((key.into_boxed_str(), start..start + raw.get().len()));
        }
        Ok(fields)
    }
}
