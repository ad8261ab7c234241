//! `ai`: a completion on the tenant's provider ([`crate::ai`]), answered outside the call
//! ([`crate::plugins::asks`]).

use crate::ai::{AiError, Message, Question, Role};
use crate::plugins::asks::{Ask, Asked, MAX_ASKS};
use crate::plugins::bindings::ai;
use crate::plugins::capabilities::Capability;
use crate::plugins::state::PluginState;

impl ai::Host for PluginState {
    fn complete(
        &mut self,
        request: ai::CompletionRequest,
    ) -> wasmtime::Result<Result<ai::Completion, ai::AiError>> {
        let question = match self.question(request) {
            Ok(question) => question,
            Err(e) => return Ok(Err(e.into())),
        };
        let answers = self.call.answers.as_ref().expect("checked in `question`");
        // Asked in an earlier run, and checked then.
        if let Some(answer) = answers.ai(&question) {
            return Ok(answer.clone().map(Into::into).map_err(Into::into));
        }
        if let Err(e) = question.check() {
            return Ok(Err(e.into()));
        }
        if answers.len() >= MAX_ASKS {
            return Ok(Err(ai::AiError::Invalid(format!(
                "a call asks at most {MAX_ASKS} questions"
            ))));
        }
        // Stop here: the route answers the question with nothing held and runs the call again.
        Err(wasmtime::Error::new(Asked(Box::new(Ask::Ai(question)))))
    }
}

impl PluginState {
    /// The plugin's request as a question it may ask now (its content is checked before it is
    /// asked: [`crate::ai::Question::check`]).
    fn question(&self, request: ai::CompletionRequest) -> Result<Question, AiError> {
        if !self.call.capabilities.contains(Capability::Ai) {
            return Err(AiError::Invalid(
                "this plugin does not declare the `ai` capability in its manifest".into(),
            ));
        }
        if self.call.answers.is_none() {
            return Err(AiError::Invalid(
                "AI is available to route calls only, not on-event or on-timer".into(),
            ));
        }
        let flag = self.call.settings.get(&format!("flag.{}", request.feature));
        if flag.is_none_or(|v| v != "on") {
            return Err(AiError::FeatureDisabled(request.feature));
        }
        let schema = match request.schema {
            None => None,
            Some(text) => Some(
                serde_json::from_str(&text)
                    .map_err(|e| AiError::Invalid(format!("the schema is not JSON: {e}")))?,
            ),
        };
        let question = Question {
            feature: request.feature,
            system: request.system,
            messages: request
                .messages
                .into_iter()
                .map(|m| Message {
                    role: match m.role {
                        ai::Role::User => Role::User,
                        ai::Role::Assistant => Role::Assistant,
                    },
                    content: m.content,
                })
                .collect(),
            max_tokens: request.max_tokens,
            temperature: request.temperature,
            schema,
        };
        Ok(question)
    }
}

impl From<crate::ai::Completion> for ai::Completion {
    fn from(c: crate::ai::Completion) -> Self {
        ai::Completion {
            text: c.text,
            model: c.model,
            usage: ai::Usage {
                input_tokens: c.input_tokens,
                output_tokens: c.output_tokens,
            },
        }
    }
}

impl From<AiError> for ai::AiError {
    fn from(e: AiError) -> Self {
        match e {
            AiError::FeatureDisabled(flag) => ai::AiError::FeatureDisabled(flag),
            AiError::NotConfigured => ai::AiError::NotConfigured,
            AiError::BudgetExceeded => ai::AiError::BudgetExceeded,
            AiError::Provider(why) => ai::AiError::ProviderError(why),
            AiError::Timeout => ai::AiError::Timeout,
            AiError::Invalid(why) => ai::AiError::Invalid(why),
        }
    }
}
