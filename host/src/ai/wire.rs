//! The providers' wire formats: Anthropic's Messages API (`POST {base}/v1/messages`, `x-api-key`,
//! `anthropic-version`) and OpenAI's chat completions (`POST {base}/chat/completions`, a bearer
//! key), which Ollama, llama.cpp's server and vLLM speak too.
//!
//! A question with a schema asks for JSON natively where the provider can (Anthropic: one tool
//! whose input is the schema, forced; OpenAI-compatible: `response_format` `json_schema`), says
//! so in the system prompt either way, and validates the answer; an answer that fails is shown
//! its errors and asked once more.

use serde_json::{Value, json};

use crate::ai::provider::{Provider, Settings};
use crate::ai::question::{AiError, Completion, Message, Question, Role};

/// What a question cost, answered or not: for the meter.
#[derive(Debug, Default)]
pub struct Spend {
    pub model: Option<String>,
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// The name of the tool (Anthropic) or schema (OpenAI) that carries a structured answer.
const ANSWER: &str = "answer";
/// The most of a provider's error body shown in an error.
const SHOWN: usize = 300;

pub async fn ask(
    client: &reqwest::Client,
    settings: &Settings,
    key: &str,
    question: &Question,
    spend: &mut Spend,
) -> Result<Completion, AiError> {
    let mut question = question.clone();
    let text = exchange(client, settings, key, &question, spend).await?;
    let Some(schema) = question.schema.clone() else {
        return Ok(completion(text, settings, spend));
    };
    let problems = match check(&schema, &text) {
        Ok(json) => return Ok(completion(json, settings, spend)),
        Err(problems) => problems,
    };
    // One repair: the answer and what is wrong with it.
    question.messages.push(Message {
        role: Role::Assistant,
        content: text,
    });
    question.messages.push(Message {
        role: Role::User,
        content: format!(
            "That answer does not satisfy the JSON Schema: {problems}. Answer again with only \
             the JSON, satisfying the schema."
        ),
    });
    let text = exchange(client, settings, key, &question, spend).await?;
    match check(&schema, &text) {
        Ok(json) => Ok(completion(json, settings, spend)),
        Err(problems) => Err(AiError::Provider(format!(
            "the answer did not satisfy the schema after one repair: {problems}"
        ))),
    }
}

fn completion(text: String, settings: &Settings, spend: &Spend) -> Completion {
    Completion {
        text,
        model: spend
            .model
            .clone()
            .unwrap_or_else(|| settings.model.clone()),
        input_tokens: spend.input_tokens,
        output_tokens: spend.output_tokens,
    }
}

/// The answer as compact JSON text if it is JSON satisfying `schema`; else what is wrong.
fn check(schema: &Value, text: &str) -> Result<String, String> {
    let trimmed = strip_fence(text.trim());
    let value: Value =
        serde_json::from_str(trimmed).map_err(|e| format!("it is not JSON ({e})"))?;
    let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .take(5)
        .map(|e| format!("at `{}`: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(value.to_string())
    } else {
        Err(errors.join("; "))
    }
}

/// Models often wrap JSON in a Markdown fence even when told not to.
fn strip_fence(text: &str) -> &str {
    let Some(inner) = text.strip_prefix("```") else {
        return text;
    };
    let inner = inner.strip_prefix("json").unwrap_or(inner);
    inner.strip_suffix("```").unwrap_or(inner).trim()
}

/// Whether the provider can be asked for this schema natively: both want an object at the root.
fn native(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("object")
}

fn system_prompt(question: &Question) -> Option<String> {
    let Some(schema) = &question.schema else {
        return question.system.clone();
    };
    let rule = format!(
        "Answer with only JSON (no prose, no Markdown) that satisfies this JSON Schema:\n{schema}"
    );
    Some(match &question.system {
        Some(system) => format!("{system}\n\n{rule}"),
        None => rule,
    })
}

/// One request and its answer's text; tokens and model go to `spend`.
async fn exchange(
    client: &reqwest::Client,
    settings: &Settings,
    key: &str,
    question: &Question,
    spend: &mut Spend,
) -> Result<String, AiError> {
    let (url, body) = match settings.provider {
        Provider::Anthropic => (
            format!("{}/v1/messages", settings.base_url),
            anthropic_body(settings, question),
        ),
        Provider::Openai => (
            format!("{}/chat/completions", settings.base_url),
            openai_body(settings, question),
        ),
    };
    let mut request = client.post(&url).json(&body);
    request = match settings.provider {
        Provider::Anthropic => request
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01"),
        Provider::Openai if key.is_empty() => request,
        Provider::Openai => request.bearer_auth(key),
    };
    let response = request.send().await.map_err(sent_error)?;
    let status = response.status();
    let bytes = read_capped(response).await?;
    if matches!(status.as_u16(), 401 | 403) {
        // Not the provider's words: some quote part of the key they refused.
        return Err(AiError::Provider(format!(
            "it refused the tenant's key ({status}): set it again with `mobieus ai set`"
        )));
    }
    if !status.is_success() {
        let message = error_message(&bytes);
        let message = if key.is_empty() {
            message
        } else {
            message.replace(key, "[key]")
        };
        return Err(AiError::Provider(format!(
            "it answered {status}: {message}"
        )));
    }
    let answer: Value = serde_json::from_slice(&bytes)
        .map_err(|e| AiError::Provider(format!("its answer is not JSON: {e}")))?;
    match settings.provider {
        Provider::Anthropic => read_anthropic(&answer, question, spend),
        Provider::Openai => read_openai(&answer, spend),
    }
}

/// The most of a provider's answer the host reads: a completion of 16,384 tokens is well under
/// it, and a provider (or what an allowed address really is) cannot make the host buffer more.
pub const MAX_ANSWER_BYTES: usize = 4 << 20;

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, AiError> {
    let too_big = || {
        AiError::Provider(format!(
            "its answer is over {MAX_ANSWER_BYTES} bytes, the most the host reads"
        ))
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(sent_error)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn sent_error(e: reqwest::Error) -> AiError {
    if e.is_timeout() {
        return AiError::Timeout;
    }
    // The guard's refusal, when it was one, says why (a loopback address…).
    let mut why = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(refusal) = s.downcast_ref::<crate::ssrf::Refusal>() {
            why = format!("the provider URL is refused: {refusal}");
            break;
        }
        source = s.source();
    }
    AiError::Provider(why)
}

/// The provider's own message of an error body, shortened; never our request.
fn error_message(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("error"))
                .or_else(|| v.get("message"))
        })
        .map(|m| match m {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    message.chars().take(SHOWN).collect()
}

fn anthropic_body(settings: &Settings, question: &Question) -> Value {
    let mut body = json!({
        "model": settings.model,
        "max_tokens": question.max_tokens,
        "messages": question.messages.iter().map(|m| json!({
            "role": m.role.as_str(),
            "content": m.content,
        })).collect::<Vec<_>>(),
    });
    if let Some(system) = system_prompt(question) {
        body["system"] = json!(system);
    }
    if let Some(t) = question.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(schema) = question.schema.as_ref().filter(|s| native(s)) {
        body["tools"] = json!([{
            "name": ANSWER,
            "description": "Give the answer.",
            "input_schema": schema,
        }]);
        body["tool_choice"] = json!({ "type": "tool", "name": ANSWER });
    }
    body
}

fn read_anthropic(
    answer: &Value,
    question: &Question,
    spend: &mut Spend,
) -> Result<String, AiError> {
    add_usage(spend, answer, "/usage/input_tokens", "/usage/output_tokens");
    let content = answer
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| AiError::Provider("its answer has no `content`".into()))?;
    if question.schema.as_ref().is_some_and(native)
        && let Some(input) = content
            .iter()
            .find(|c| c["type"] == "tool_use" && c["name"] == ANSWER)
            .map(|c| &c["input"])
    {
        return Ok(input.to_string());
    }
    let text: String = content
        .iter()
        .filter(|c| c["type"] == "text")
        .filter_map(|c| c["text"].as_str())
        .collect();
    if text.is_empty() {
        return Err(AiError::Provider("its answer has no text".into()));
    }
    Ok(text)
}

fn openai_body(settings: &Settings, question: &Question) -> Value {
    let mut messages = Vec::with_capacity(question.messages.len() + 1);
    if let Some(system) = system_prompt(question) {
        messages.push(json!({ "role": "system", "content": system }));
    }
    messages.extend(
        question
            .messages
            .iter()
            .map(|m| json!({ "role": m.role.as_str(), "content": m.content })),
    );
    let mut body = json!({
        "model": settings.model,
        "max_tokens": question.max_tokens,
        "messages": messages,
    });
    if let Some(t) = question.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(schema) = question.schema.as_ref().filter(|s| native(s)) {
        body["response_format"] = json!({
            "type": "json_schema",
            "json_schema": { "name": ANSWER, "schema": schema },
        });
    }
    body
}

fn read_openai(answer: &Value, spend: &mut Spend) -> Result<String, AiError> {
    add_usage(
        spend,
        answer,
        "/usage/prompt_tokens",
        "/usage/completion_tokens",
    );
    let message = answer
        .pointer("/choices/0/message")
        .ok_or_else(|| AiError::Provider("its answer has no `choices[0].message`".into()))?;
    if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
        return Err(AiError::Provider(format!(
            "the model refused: {}",
            refusal.chars().take(SHOWN).collect::<String>()
        )));
    }
    match message.get("content").and_then(Value::as_str) {
        Some(text) if !text.is_empty() => Ok(text.to_owned()),
        _ => Err(AiError::Provider("its answer has no text".into())),
    }
}

fn add_usage(spend: &mut Spend, answer: &Value, input: &str, output: &str) {
    let tokens = |pointer| {
        answer
            .pointer(pointer)
            .and_then(Value::as_u64)
            .map_or(0, |n| n.min(u32::MAX as u64) as u32)
    };
    spend.input_tokens = spend.input_tokens.saturating_add(tokens(input));
    spend.output_tokens = spend.output_tokens.saturating_add(tokens(output));
    if let Some(model) = answer.get("model").and_then(Value::as_str) {
        spend.model = Some(model.chars().take(200).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_json_is_read() {
        let schema = json!({ "type": "object", "required": ["a"] });
        assert_eq!(
            check(&schema, "```json\n{\"a\": 1}\n```").unwrap(),
            r#"{"a":1}"#
        );
        assert!(check(&schema, "{}").unwrap_err().contains("\"a\""));
        assert!(check(&schema, "nope").unwrap_err().contains("not JSON"));
    }
}
