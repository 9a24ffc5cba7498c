//! Reading a JSON object field by field, with each error naming where in the body it is.
//!
//! Every sender format walks its payload through `Object`, so `data.alerts[2].operation` style
//! paths come out the same everywhere.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::FormatError;

/// A JSON object and its path in the body (empty for the body itself).
pub(super) struct Object<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

/// An owned path, so nested objects can name themselves.
pub(super) fn path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl<'a> Object<'a> {
    /// `value` as an object, or an error naming `path`.
    pub fn new(value: &'a Value, path: impl Into<String>) -> Result<Object<'a>, FormatError> {
        let path = path.into();
        match value {
            Value::Object(map) => Ok(Object { map, path }),
            _ => Err(FormatError::new(display(&path), "must be an object")),
        }
    }

    pub fn map(&self) -> &'a Map<String, Value> {
        self.map
    }

    /// The full path of `key` in this object, for error messages.
    pub fn field(&self, key: &str) -> String {
        path(&self.path, key)
    }

    pub fn error(&self, key: &str, message: impl Into<String>) -> FormatError {
        FormatError::new(self.field(key), message)
    }

    /// The value at `key`; `null` counts as absent.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    /// A required, non-empty string.
    pub fn string(&self, key: &str) -> Result<&'a str, FormatError> {
        self.optional_string(key)?
            .ok_or_else(|| self.error(key, "is required"))
    }

    /// An optional string; an empty one counts as absent.
    pub fn optional_string(&self, key: &str) -> Result<Option<&'a str>, FormatError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) if text.is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(self.error(key, "must be a string")),
        }
    }

    /// An Id: a non-empty string, or a number taken as its decimal text.
    pub fn id(&self, key: &str) -> Result<String, FormatError> {
        let id = match self.get(key) {
            Some(Value::Number(number)) => number.to_string(),
            Some(Value::String(text)) if !text.is_empty() => text.clone(),
            Some(Value::String(_)) | None => return Err(self.error(key, "is required")),
            Some(_) => return Err(self.error(key, "must be a string or a number")),
        };
        super::alert_id(&self.field(key), id)
    }

    /// An optional object.
    pub fn optional_object(&self, key: &str) -> Result<Option<Object<'a>>, FormatError> {
        self.get(key)
            .map(|value| Object::new(value, self.field(key)))
            .transpose()
    }

    /// A required object.
    pub fn object(&self, key: &str) -> Result<Object<'a>, FormatError> {
        self.optional_object(key)?
            .ok_or_else(|| self.error(key, "is required and must be an object"))
    }

    /// The items of an optional array of objects, each named `key[i]`.
    pub fn objects(&self, key: &str) -> Result<Vec<Object<'a>>, FormatError> {
        let Some(items) = self.optional_array(key)? else {
            return Ok(Vec::new());
        };
        items
            .iter()
            .enumerate()
            .map(|(index, item)| Object::new(item, format!("{}[{index}]", self.field(key))))
            .collect()
    }

    /// An optional array.
    pub fn optional_array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, FormatError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(self.error(key, "must be an array")),
        }
    }

    /// An optional RFC 3339 time.
    pub fn optional_time(&self, key: &str) -> Result<Option<DateTime<Utc>>, FormatError> {
        let Some(text) = self.optional_string(key)? else {
            return Ok(None);
        };
        crate::time::parse(text)
            .map(Some)
            .ok_or_else(|| self.error(key, format!("`{text}` is not an RFC 3339 time")))
    }
}

/// The body itself is called `body` in messages.
fn display(path: &str) -> &str {
    if path.is_empty() {
        "body"
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Senders send `""` for "not set": an empty string is absent, and an empty Id is missing.
    #[test]
    fn an_empty_string_counts_as_absent() {
        let body = json!({"title": "", "id": "", "number": 7, "text": "t"});
        let object = Object::new(&body, "alert").unwrap();
        assert_eq!(object.optional_string("title"), Ok(None));
        assert_eq!(object.optional_string("text"), Ok(Some("t")));
        assert_eq!(
            object.id("id"),
            Err(FormatError::new("alert.id", "is required"))
        );
        assert_eq!(object.id("number"), Ok("7".to_string()));
    }
}
