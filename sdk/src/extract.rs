//! Typed handlers, in the manner of axum: a handler takes `&mut Ctx` and up to two extractors
//! ([`Json`], [`Path`]) and returns anything that becomes a reply ([`Json`], [`Created`],
//! [`NoContent`], a [`Page`], a [`Reply`], or a `Result` of one). The shapes are written once, as
//! Rust types: the route's request and response schemas are derived from them (`schemars`), and
//! a body is checked against the same declaration (`garde`) before the handler runs, answering
//! the host's `400 validation_failed` with the field.

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::router::Reply;
use crate::{Ctx, Error, Page, Result};

/// What a handler argument is read from.
pub trait FromRequest: Sized {
    fn from_request(cx: &Ctx) -> Result<Self>;

    /// The JSON Schema of the request body it reads, if it reads one.
    fn body_schema() -> Option<Value> {
        None
    }

    /// The name of that schema in the API document (`NewListing`).
    fn body_name() -> Option<String> {
        None
    }
}

/// What a handler's answer becomes.
pub trait IntoReply {
    fn into_reply(self) -> Result<Reply>;

    /// The JSON Schema of the success body, when the type says it.
    fn schema() -> Option<Value> {
        None
    }

    /// The name of that schema in the API document (`Listing`).
    fn name() -> Option<String> {
        None
    }

    /// The status a success answers, when the type says it.
    fn status() -> Option<u16> {
        None
    }
}

/// The JSON body, parsed and validated; or a `200` JSON answer.
pub struct Json<T>(pub T);

/// A JSON body that may be left out (no body is `T::default()`), checked like [`Json`].
pub struct JsonOrDefault<T>(pub T);

/// A `201` JSON answer.
pub struct Created<T>(pub T);

/// A `204` answer.
pub struct NoContent;

/// The route template's path parameters: one (`Path<String>` for `{id}`) or several, into a
/// struct with a field per parameter.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + JsonSchema + garde::Validate<Context = ()>> FromRequest for Json<T> {
    fn from_request(cx: &Ctx) -> Result<Self> {
        let value: T = cx.json()?;
        value.validate().map_err(|report| refusal(&report))?;
        Ok(Json(value))
    }

    fn body_schema() -> Option<Value> {
        Some(schema::<T>())
    }

    fn body_name() -> Option<String> {
        Some(T::schema_name().into_owned())
    }
}

impl<T: DeserializeOwned + JsonSchema + Default + garde::Validate<Context = ()>> FromRequest
    for JsonOrDefault<T>
{
    fn from_request(cx: &Ctx) -> Result<Self> {
        let value: T = cx.json_or_default()?;
        value.validate().map_err(|report| refusal(&report))?;
        Ok(JsonOrDefault(value))
    }

    fn body_schema() -> Option<Value> {
        Some(schema::<T>())
    }

    fn body_name() -> Option<String> {
        Some(T::schema_name().into_owned())
    }
}

impl<T: DeserializeOwned> FromRequest for Path<T> {
    fn from_request(cx: &Ctx) -> Result<Self> {
        let params = cx.params();
        let value = match params {
            [(_, one)] => serde_json::from_value(Value::String(one.clone())),
            _ => Err(serde::de::Error::custom("")),
        }
        .or_else(|_| {
            let map = params
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            serde_json::from_value(Value::Object(map))
        })
        .map_err(|e| Error::validation("path", e.to_string()))?;
        Ok(Path(value))
    }
}

/// The first failure of a body's validation, as the host names it.
fn refusal(report: &garde::Report) -> Error {
    match report.iter().next() {
        Some((path, error)) => {
            let field = path.to_string();
            let field = if field.is_empty() {
                "body".into()
            } else {
                field
            };
            Error::validation(&field, error.to_string())
        }
        None => Error::validation("body", "invalid"),
    }
}

impl IntoReply for Reply {
    fn into_reply(self) -> Result<Reply> {
        Ok(self)
    }
}

impl<T: IntoReply> IntoReply for Result<T> {
    fn into_reply(self) -> Result<Reply> {
        self?.into_reply()
    }

    fn schema() -> Option<Value> {
        T::schema()
    }

    fn name() -> Option<String> {
        T::name()
    }

    fn status() -> Option<u16> {
        T::status()
    }
}

impl<T: Serialize + JsonSchema> IntoReply for Json<T> {
    fn into_reply(self) -> Result<Reply> {
        Reply::ok(&self.0)
    }

    fn schema() -> Option<Value> {
        Some(answer_schema::<T>())
    }

    fn name() -> Option<String> {
        Some(T::schema_name().into_owned())
    }

    fn status() -> Option<u16> {
        Some(200)
    }
}

impl<T: Serialize + JsonSchema> IntoReply for Created<T> {
    fn into_reply(self) -> Result<Reply> {
        Reply::created(&self.0)
    }

    fn schema() -> Option<Value> {
        Some(answer_schema::<T>())
    }

    fn name() -> Option<String> {
        Some(T::schema_name().into_owned())
    }

    fn status() -> Option<u16> {
        Some(201)
    }
}

impl IntoReply for NoContent {
    fn into_reply(self) -> Result<Reply> {
        Reply::no_content()
    }

    fn status() -> Option<u16> {
        Some(204)
    }
}

impl<T: Serialize + JsonSchema> IntoReply for Page<T> {
    fn into_reply(self) -> Result<Reply> {
        Reply::ok(&self)
    }

    fn schema() -> Option<Value> {
        Some(crate::page_schema(answer_schema::<T>()))
    }

    fn name() -> Option<String> {
        Some(format!("{}Page", T::schema_name()))
    }

    fn status() -> Option<u16> {
        Some(200)
    }
}

/// The JSON Schema of `T` as a request body (what deserializes into it), self-contained (no
/// `$ref`s: the host places it in its document as it is). Built only when the manifest is asked
/// for, never while answering a request.
pub fn schema<T: JsonSchema>() -> Value {
    schema_with::<T>(schemars::generate::SchemaSettings::draft2020_12().for_deserialize())
}

/// The JSON Schema of `T` as an answer or an event (what it serializes to).
pub fn answer_schema<T: JsonSchema>() -> Value {
    schema_with::<T>(schemars::generate::SchemaSettings::draft2020_12().for_serialize())
}

fn schema_with<T: JsonSchema>(settings: schemars::generate::SchemaSettings) -> Value {
    let generator = settings
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let mut value = generator.into_root_schema_for::<T>().to_value();
    if let Some(object) = value.as_object_mut() {
        object.remove("title");
    }
    value
}

/// What a handler's types say of its route, for the manifest: the body's and the answer's
/// schemas and names, and the success status.
#[derive(Default)]
pub struct Shapes {
    pub request: Option<Value>,
    pub request_name: Option<String>,
    pub response: Option<Value>,
    pub response_name: Option<String>,
    pub status: Option<u16>,
}

impl Shapes {
    fn answer<R: IntoReply>() -> Shapes {
        Shapes {
            response: R::schema(),
            response_name: R::name(),
            status: R::status(),
            ..Shapes::default()
        }
    }

    /// The first extractor that reads a body gives the request's shape.
    fn body<A: FromRequest>(mut self) -> Shapes {
        if self.request.is_none() {
            self.request = A::body_schema();
            self.request_name = A::body_name();
        }
        self
    }
}

/// A handler: a function of `&mut Ctx` and zero to two extractors, answering an [`IntoReply`].
/// `Args` only tells the implementations apart.
pub trait Handler<Args>: Copy + 'static {
    fn call(self, cx: &mut Ctx) -> Result<Reply>;
    fn shapes() -> Shapes;
}

impl<F, R> Handler<()> for F
where
    F: Fn(&mut Ctx) -> R + Copy + 'static,
    R: IntoReply,
{
    fn call(self, cx: &mut Ctx) -> Result<Reply> {
        self(cx).into_reply()
    }

    fn shapes() -> Shapes {
        Shapes::answer::<R>()
    }
}

impl<F, A, R> Handler<(A,)> for F
where
    F: Fn(&mut Ctx, A) -> R + Copy + 'static,
    A: FromRequest,
    R: IntoReply,
{
    fn call(self, cx: &mut Ctx) -> Result<Reply> {
        let a = A::from_request(cx)?;
        self(cx, a).into_reply()
    }

    fn shapes() -> Shapes {
        Shapes::answer::<R>().body::<A>()
    }
}

impl<F, A, B, R> Handler<(A, B)> for F
where
    F: Fn(&mut Ctx, A, B) -> R + Copy + 'static,
    A: FromRequest,
    B: FromRequest,
    R: IntoReply,
{
    fn call(self, cx: &mut Ctx) -> Result<Reply> {
        let a = A::from_request(cx)?;
        let b = B::from_request(cx)?;
        self(cx, a, b).into_reply()
    }

    fn shapes() -> Shapes {
        Shapes::answer::<R>().body::<A>().body::<B>()
    }
}

/// Checks for `#[garde(custom(...))]` that the schema cannot say.
pub mod check {
    /// Not only whitespace.
    pub fn not_blank(value: &str, _: &()) -> garde::Result {
        if value.trim().is_empty() {
            return Err(garde::Error::new("must not be blank"));
        }
        Ok(())
    }

    /// One line without control characters: a name that becomes a mail's subject or a header.
    pub fn one_line(value: &str, _: &()) -> garde::Result {
        if value.chars().any(char::is_control) {
            return Err(garde::Error::new("one line, without control characters"));
        }
        Ok(())
    }

    /// Not only whitespace, when given.
    pub fn not_blank_if_given(value: &Option<String>, cx: &()) -> garde::Result {
        value.as_deref().map_or(Ok(()), |v| not_blank(v, cx))
    }
}

#[cfg(test)]
mod tests {
    use garde::Validate;
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Deserialize, Serialize, JsonSchema, Validate)]
    #[serde(deny_unknown_fields)]
    struct NewEntry {
        #[garde(length(chars, min = 1, max = 5), custom(check::not_blank))]
        name: String,
        #[garde(range(min = 0, max = 10))]
        stars: i64,
        #[garde(length(max = 2))]
        #[serde(default)]
        tags: Vec<String>,
    }

    #[test]
    fn one_declaration_gives_the_schema_and_the_checks() {
        let schema = schema::<NewEntry>();
        assert_eq!(schema["properties"]["name"]["maxLength"], 5);
        assert_eq!(schema["properties"]["name"]["minLength"], 1);
        assert_eq!(schema["properties"]["stars"]["maximum"], 10);
        assert_eq!(schema["properties"]["tags"]["maxItems"], 2);
        assert_eq!(schema["additionalProperties"], false);
        assert!(schema.get("$schema").is_none() && schema.get("title").is_none());
        let required = schema["required"].as_array().unwrap();
        assert!(required.contains(&"name".into()) && !required.contains(&"tags".into()));

        for (entry, field) in [
            (
                NewEntry {
                    name: "".into(),
                    stars: 1,
                    tags: vec![],
                },
                "name",
            ),
            (
                NewEntry {
                    name: "   ".into(),
                    stars: 1,
                    tags: vec![],
                },
                "name",
            ),
            (
                NewEntry {
                    name: "ünïcødé".into(),
                    stars: 1,
                    tags: vec![],
                },
                "name",
            ),
            (
                NewEntry {
                    name: "ok".into(),
                    stars: 11,
                    tags: vec![],
                },
                "stars",
            ),
            (
                NewEntry {
                    name: "ok".into(),
                    stars: 1,
                    tags: vec!["a".into(); 3],
                },
                "tags",
            ),
        ] {
            let error = refusal(&entry.validate().unwrap_err());
            assert_eq!(
                (error.status, error.code.as_str()),
                (400, "validation_failed")
            );
            assert_eq!(error.extra["field"], field);
        }
        let five_chars = NewEntry {
            name: "ünïcø".into(),
            stars: 0,
            tags: vec![],
        };
        assert!(five_chars.validate().is_ok(), "characters, not bytes");
    }

    #[test]
    fn answers_carry_the_schema_of_what_they_serialize() {
        assert_eq!(
            <Created<NewEntry> as IntoReply>::schema().unwrap()["type"],
            "object"
        );
        let page = <Result<Page<NewEntry>> as IntoReply>::schema().unwrap();
        assert_eq!(
            page["properties"]["data"]["items"]["properties"]["stars"]["type"],
            "integer"
        );
        assert!(<NoContent as IntoReply>::schema().is_none());
    }
}
