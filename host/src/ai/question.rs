//! What a plugin asks and what it gets: the question, the answer, and why there was none.

use axum::http::StatusCode;
use serde_json::Value;

use crate::error::ApiError;

/// What a plugin asks.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The plugin's feature flag that allowed it.
    pub feature: String,
    pub system: Option<String>,
    pub messages: Vec<Message>,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    /// The JSON Schema the answer must satisfy.
    pub schema: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// The bounds of a question, checked before anything is asked.
pub const MAX_MESSAGES: usize = 100;
pub const MAX_TOKENS: u32 = 16_384;
/// System prompt, messages and schema together.
pub const MAX_QUESTION_BYTES: usize = 1 << 20;

impl Question {
    /// Why the question cannot be asked, if it cannot.
    pub fn check(&self) -> Result<(), AiError> {
        let invalid = |why: &str| Err(AiError::Invalid(why.to_owned()));
        if self.messages.is_empty() || self.messages.len() > MAX_MESSAGES {
            return invalid("a question has 1 to 100 messages");
        }
        if self.messages[0].role != Role::User {
            return invalid("the first message must be the user's");
        }
        if !(1..=MAX_TOKENS).contains(&self.max_tokens) {
            return invalid("max-tokens must be 1 to 16384");
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return invalid("temperature must be 0.0 to 2.0");
        }
        let size = self.system.as_ref().map_or(0, String::len)
            + self.messages.iter().map(|m| m.content.len()).sum::<usize>()
            + self.schema.as_ref().map_or(0, |s| s.to_string().len());
        if size > MAX_QUESTION_BYTES {
            return invalid("a question is at most 1 MiB of text");
        }
        if let Some(schema) = &self.schema {
            jsonschema::validator_for(schema)
                .map_err(|e| AiError::Invalid(format!("the schema is not a JSON Schema: {e}")))?;
        }
        Ok(())
    }
}

/// An answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The text; JSON text when the question had a schema.
    pub text: String,
    pub model: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// Why a question got no answer. Each is an error code of the API.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AiError {
    #[error("the feature flag `{0}` is not on for this tenant")]
    FeatureDisabled(String),
    #[error("this tenant has no AI provider set")]
    NotConfigured,
    #[error("this tenant's monthly AI token budget is spent")]
    BudgetExceeded,
    #[error("the AI provider failed: {0}")]
    Provider(String),
    #[error("the AI provider did not answer in time")]
    Timeout,
    #[error("{0}")]
    Invalid(String),
}

impl AiError {
    pub fn code(&self) -> &'static str {
        match self {
            AiError::FeatureDisabled(_) => "feature_disabled",
            AiError::NotConfigured => "ai_not_configured",
            AiError::BudgetExceeded => "ai_budget_exceeded",
            AiError::Provider(_) => "ai_provider_error",
            AiError::Timeout => "ai_timeout",
            AiError::Invalid(_) => "ai_invalid_request",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AiError::FeatureDisabled(_) => StatusCode::FORBIDDEN,
            AiError::NotConfigured => StatusCode::CONFLICT,
            AiError::BudgetExceeded => StatusCode::TOO_MANY_REQUESTS,
            AiError::Provider(_) => StatusCode::BAD_GATEWAY,
            AiError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            // The plugin's question, not the client's: a fault of the surface.
            AiError::Invalid(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<AiError> for ApiError {
    fn from(e: AiError) -> Self {
        ApiError::new(e.status(), e.code(), e.to_string())
    }
}

pub type Answer = Result<Completion, AiError>;
