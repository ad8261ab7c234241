use serde_json::{Map, Value, json};

use crate::bindings::mobieus::plugin::types as wit;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An API error. The host wraps it in the standard envelope and adds the request id.
#[derive(Debug, Clone)]
pub struct Error {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub extra: Map<String, Value>,
}

impl Error {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            status,
            code: code.into(),
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// `404 <thing>_not_found`.
    pub fn not_found(thing: &str) -> Self {
        Error::new(
            404,
            format!("{thing}_not_found"),
            format!("No such {thing}."),
        )
    }

    /// `400 validation_failed` naming the field.
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Error::new(400, "validation_failed", format!("`{field}`: {message}")).with("field", field)
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Error::new(400, code, message)
    }

    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Error::new(409, code, message)
    }

    /// A failure of the plugin's own: 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(500, "plugin_error", message)
    }

    /// A field beside `code` in the envelope.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    pub(crate) fn into_response(self) -> wit::Response {
        let mut error = Map::new();
        error.insert("code".into(), self.code.into());
        error.insert("message".into(), self.message.into());
        error.extend(self.extra);
        wit::Response {
            status: self.status,
            headers: vec![wit::Header {
                name: "content-type".into(),
                value: "application/json".into(),
            }],
            body: serde_json::to_vec(&json!({ "error": error })).unwrap_or_default(),
        }
    }
}

impl From<wit::Error> for Error {
    fn from(e: wit::Error) -> Self {
        match e {
            wit::Error::Denied(m) => Error::internal(format!("the host denied a call: {m}")),
            wit::Error::Invalid(m) => Error::internal(format!("invalid call: {m}")),
            wit::Error::Failed(m) => Error::internal(format!("host call failed: {m}")),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::internal(format!("JSON: {e}"))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}
