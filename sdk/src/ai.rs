//! AI on the tenant's own provider and key ([`Ctx::ask`], capability [`crate::Capability::Ai`]).

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::host::ai;
use crate::{Ctx, Error, Result, Route};

/// A question: `Prompt::new("ai.summary").system("…").user("…").max_tokens(400)`, and
/// [`Prompt::answer_as`] for an answer of a JSON Schema.
#[derive(Debug, Clone)]
pub struct Prompt(ai::CompletionRequest);

impl Prompt {
    /// `feature` is the manifest's feature flag ([`crate::Manifest::flag`]) this use belongs to:
    /// the host answers only while the tenant has it on (`403 feature_disabled` otherwise).
    pub fn new(feature: &str) -> Prompt {
        Prompt(ai::CompletionRequest {
            feature: feature.to_owned(),
            system: None,
            messages: vec![],
            max_tokens: 1024,
            temperature: None,
            schema: None,
        })
    }

    pub fn system(mut self, text: &str) -> Prompt {
        self.0.system = Some(text.to_owned());
        self
    }

    pub fn user(mut self, text: &str) -> Prompt {
        self.0.messages.push(ai::Message {
            role: ai::Role::User,
            content: text.to_owned(),
        });
        self
    }

    pub fn assistant(mut self, text: &str) -> Prompt {
        self.0.messages.push(ai::Message {
            role: ai::Role::Assistant,
            content: text.to_owned(),
        });
        self
    }

    /// 1 to 16384 (default 1024).
    pub fn max_tokens(mut self, n: u32) -> Prompt {
        self.0.max_tokens = n;
        self
    }

    /// 0.0 to 2.0.
    pub fn temperature(mut self, t: f32) -> Prompt {
        self.0.temperature = Some(t);
        self
    }

    /// The answer must be JSON satisfying `schema`: the host asks for it natively where it can,
    /// validates it, and asks once more with the errors before it gives up.
    pub fn schema(mut self, schema: &serde_json::Value) -> Prompt {
        self.0.schema = Some(schema.to_string());
        self
    }

    /// The answer must be a `T` (its JSON Schema, from its type).
    pub fn answer_as<T: JsonSchema>(self) -> Prompt {
        let schema = crate::answer_schema::<T>();
        self.schema(&schema)
    }
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The text; JSON text when the prompt had a schema.
    pub text: String,
    /// The model that answered.
    pub model: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
}

impl Completion {
    /// The answer as `T` (the prompt asked for `T`'s schema, so this holds unless the schema and
    /// `T` disagree).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.text)
            .map_err(|e| Error::internal(format!("the AI answer is not what was asked: {e}")))
    }
}

impl From<ai::AiError> for Error {
    fn from(e: ai::AiError) -> Self {
        match e {
            ai::AiError::FeatureDisabled(flag) => Error::new(
                403,
                "feature_disabled",
                format!("The feature `{flag}` is not switched on for this tenant."),
            )
            .with("feature", flag),
            ai::AiError::NotConfigured => Error::new(
                409,
                "ai_not_configured",
                "This tenant has no AI provider set: an admin sets one with `mobieus ai set` or in the console.",
            ),
            ai::AiError::BudgetExceeded => Error::new(
                429,
                "ai_budget_exceeded",
                "This tenant's monthly AI token budget is spent.",
            ),
            ai::AiError::ProviderError(why) => Error::new(
                502,
                "ai_provider_error",
                format!("The AI provider failed: {why}"),
            ),
            ai::AiError::Timeout => {
                Error::new(504, "ai_timeout", "The AI provider did not answer in time.")
            }
            ai::AiError::Invalid(why) => {
                Error::internal(format!("an AI question was refused: {why}"))
            }
        }
    }
}

impl Ctx {
    /// Asks the tenant's AI provider. Needs [`crate::Capability::Ai`], in a route call.
    ///
    /// The call does not wait here: the first time, the host stops the call, asks with nothing
    /// held, and runs the call again from the start, when this returns at once. So do the same
    /// things up to a question each time, and ask before you write. Errors become the API's
    /// (`403 feature_disabled`, `409 ai_not_configured`, `429 ai_budget_exceeded`,
    /// `502 ai_provider_error`, `504 ai_timeout`); declare them with [`Route::ai_errors`].
    pub fn ask(&self, prompt: Prompt) -> Result<Completion> {
        let c = ai::complete(&prompt.0)?;
        Ok(Completion {
            text: c.text,
            model: c.model,
            input_tokens: c.usage.input_tokens,
            output_tokens: c.usage.output_tokens,
        })
    }

    /// Asks for a `T` ([`Prompt::answer_as`]); the answer and what it cost.
    pub fn ask_for<T: DeserializeOwned + JsonSchema>(
        &self,
        prompt: Prompt,
    ) -> Result<(T, Completion)> {
        let completion = self.ask(prompt.answer_as::<T>())?;
        Ok((completion.json()?, completion))
    }
}

impl Route {
    /// Documents the errors [`Ctx::ask`] can answer.
    pub fn ai_errors(self) -> Route {
        self.error(
            403,
            "feature_disabled",
            "The feature's flag is off for this tenant.",
        )
        .error(
            409,
            "ai_not_configured",
            "The tenant has no AI provider set.",
        )
        .error(
            429,
            "ai_budget_exceeded",
            "The tenant's monthly AI token budget is spent.",
        )
        .error(
            502,
            "ai_provider_error",
            "The AI provider failed, or its answer did not satisfy the schema.",
        )
        .error(504, "ai_timeout", "The AI provider did not answer in time.")
    }
}
