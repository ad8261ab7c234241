//! A conformant xAPI 1.0.3 Learning Record Store at `/api/v1/learn/xapi`: the resource every
//! xAPI client (content, cmi5 players, analytics tools) is configured with.
//!
//! - [`request`]: each request as xAPI means it, the alternate request syntax undone; the
//!   `X-Experience-API-Version` header checked.
//! - [`statements`]: store, void and query statements; attachments in [`multipart`] bodies,
//!   signatures checked by [`signature`]; every shape rule in [`validate`].
//! - [`documents`]: state, activity profiles and agent profiles, with ETag concurrency.
//! - [`agents`]: identifiers, the index rows of a statement, Persons and canonical activities.
//! - [`progress`]: the statements Learn records of its own attempts and completions.
//!
//! Scopes `learn:xapi:read` (GET) and `learn:xapi:write` (the rest). The host takes HTTP Basic
//! on these paths and stamps the version header on every answer (its `http::xapi`); statements
//! live in the tenant's file of the key's environment, like every other Learn record.

mod agents;
mod documents;
mod multipart;
pub mod progress;
mod request;
mod signature;
pub mod statements;
mod validate;

use mobieus_sdk::prelude::*;

use documents::Kind;
use request::XRequest;

pub const BASE: &str = "/api/v1/learn/xapi";
pub const READ: &str = "learn:xapi:read";
pub const WRITE: &str = "learn:xapi:write";
pub const STATEMENTS_MIGRATION: &str = statements::MIGRATION;
pub const DOCUMENTS_MIGRATION: &str = documents::MIGRATION;

/// The LRS's resources: path, the methods it takes, what it is.
const RESOURCES: [(&str, &[&str], &str); 7] = [
    ("/statements", &["GET", "PUT", "POST"], "Statements: PUT one by statementId, POST one or many, GET one or a filtered page"),
    ("/activities/state", &["GET", "PUT", "POST", "DELETE"], "A learner's state documents in an activity"),
    ("/activities/profile", &["GET", "PUT", "POST", "DELETE"], "An activity's profile documents"),
    ("/agents/profile", &["GET", "PUT", "POST", "DELETE"], "An agent's profile documents"),
    ("/activities", &["GET", "POST"], "An activity's canonical definition (POST: the alternate request syntax)"),
    ("/agents", &["GET", "POST"], "The Person an agent is (POST: the alternate request syntax)"),
    ("/about", &["GET"], "Public, no key: the xAPI versions this LRS speaks"),
];

/// The LRS's routes, onto Learn's router.
pub fn routes(mut router: Router) -> Router {
    for (resource, methods, summary) in RESOURCES {
        for method in methods {
            let path = format!("{BASE}{resource}");
            let route = match *method {
                "GET" => Route::get(&path, READ, serve),
                "PUT" => Route::put(&path, WRITE, serve),
                "POST" => Route::post(&path, WRITE, serve),
                _ => Route::delete(&path, WRITE, serve),
            };
            let words: String = resource.split(['/', '_']).filter(|w| !w.is_empty()).map(capitalized).collect();
            let mut route = route
                .id(&format!("xapi{}{words}", capitalized(&method.to_ascii_lowercase())))
                .summary(summary)
                .status(match *method {
                    "GET" => 200,
                    "POST" if resource == "/statements" => 200,
                    "POST" if matches!(resource, "/activities" | "/agents") => 200,
                    _ => 204,
                })
                .error(400, "xapi_bad_request", "The request breaks a rule of xAPI 1.0.3 (the message says which): a parameter, a header, or the statement.");
            if resource == "/about" {
                route = route.public();
            }
            if resource == "/statements" && *method == "POST" {
                route = route.error(413, "xapi_batch_too_large", "More than 1,000 statements, or more than 250 signatures with certificates, in one POST.");
            }
            if resource == "/statements" && *method == "PUT" {
                route = route.error(413, "xapi_batch_too_large", "More than 250 signatures with certificates on the statement.");
            }
            if resource == "/statements" && *method != "GET" {
                route = route.error(409, "xapi_conflict", "A statement with this id is stored with other content: statements are immutable.");
            }
            if *method == "GET" && resource != "/about" {
                route = route.error(404, "xapi_not_found", "No statement or document has this id.");
            }
            if resource.ends_with("/state") || resource.ends_with("/profile") {
                route = route.error(412, "precondition_failed", "If-Match or If-None-Match does not hold for the document as it is.");
                if *method != "GET" {
                    route = route.error(409, "document_exists", "A profile PUT over an existing document without If-Match or If-None-Match.");
                }
            }
            router = router.route(route);
        }
    }
    router
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// Every LRS request: the request as xAPI means it, its version, then its resource.
fn serve(cx: &mut Ctx) -> Result<Reply> {
    let resource = cx.path().strip_prefix(BASE).unwrap_or("").to_owned();
    let req = XRequest::from(cx)?;
    if resource != "/about" {
        req.check_version()?;
    }
    match (resource.as_str(), req.method.as_str()) {
        ("/statements", "GET") => statements::get(cx, &req),
        ("/statements", "PUT") => statements::put(cx, &req),
        ("/statements", "POST") => statements::post(cx, &req),
        ("/activities/state", _) => documents::serve(cx, &req, Kind::State),
        ("/activities/profile", _) => documents::serve(cx, &req, Kind::ActivityProfile),
        ("/agents/profile", _) => documents::serve(cx, &req, Kind::AgentProfile),
        ("/activities", "GET") => activity(cx, &req),
        ("/agents", "GET") => person(cx, &req),
        ("/about", "GET") => Reply::ok(&json!({"version": ["1.0.0", "1.0.1", "1.0.2", "1.0.3"], "extensions": {}})),
        _ => Err(Error::new(405, "method_not_allowed", "This resource does not take that method.")),
    }
}

/// `GET /activities?activityId=…`: the activity with its canonical definition.
fn activity(cx: &Ctx, req: &XRequest) -> Result<Reply> {
    req.allow_only(&["activityId"])?;
    let id = req.param("activityId").ok_or_else(|| invalid("`activityId` is required."))?;
    if !validate::is_iri(id) {
        return Err(invalid("`activityId` must be an absolute IRI."));
    }
    let mut activity = json!({"objectType": "Activity", "id": id});
    if let Some(definition) = agents::canonical_definition(cx, id)? {
        activity["definition"] = definition;
    }
    Reply::ok(&activity)
}

/// `GET /agents?agent=…`: the Person the agent is, as far as this LRS knows.
fn person(cx: &Ctx, req: &XRequest) -> Result<Reply> {
    req.allow_only(&["agent"])?;
    let text = req.param("agent").ok_or_else(|| invalid("`agent` is required."))?;
    let agent: json::Value = json::from_str(text).map_err(|_| invalid("`agent` must be an Agent as JSON."))?;
    validate::actor(&agent).map_err(|why| invalid(&why))?;
    Reply::ok(&agents::person(cx, &agent)?)
}

/// 400 with xAPI's reason.
fn invalid(why: &str) -> Error {
    Error::bad_request("xapi_bad_request", why)
}

fn not_found(why: &str) -> Error {
    Error::new(404, "xapi_not_found", why)
}

fn conflict(why: &str) -> Error {
    Error::conflict("xapi_conflict", why)
}

/// A new statement id.
fn uuid(cx: &Ctx) -> String {
    crate::enrollments::uuid_v4(cx)
}
