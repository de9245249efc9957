//! Small JSON readers and writers every dialect module shares (fields that may be absent, tool
//! arguments, `stop` lists, optional keys).

use crate::core::sse::SseEvent;
use serde_json::{Map, Value};

use super::errors::ConvertError;

/// The type of a named-event stream's event (Anthropic, Responses): the `event:` line, or
/// the data's `type` when a relay dropped the line.
pub fn event_kind<'a>(event: &'a SseEvent, data: &'a Value) -> &'a str {
    if event.event.is_empty() {
        str_at(data, "type")
    } else {
        event.event.as_str()
    }
}

/// The JSON data of a stream event; `None` for data that is not JSON.
pub fn event_json(event: &SseEvent) -> Option<Value> {
    serde_json::from_str(&event.data).ok()
}

/// A required array field of a request body.
pub fn array_at<'a>(v: &'a Value, key: &str) -> Result<&'a [Value], ConvertError> {
    v[key]
        .as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| ConvertError::Malformed(format!("`{key}` must be an array")))
}

/// A string field, or "".
pub fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A string field when present and non-empty.
pub fn opt_str(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Tool arguments from a JSON string: an object, or `{}` when it is not one.
pub fn args_object(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::Object(Default::default()),
    }
}

/// `stop`-style fields: a string or an array of strings.
pub fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Sets `key` when `value` is present.
pub fn set_opt<T: Into<Value>>(map: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        map.insert(key.to_string(), v.into());
    }
}
