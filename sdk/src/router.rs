use serde::Serialize;
use serde_json::Value;

use crate::bindings::mobieus::plugin::types as wit;
use crate::extract::{Handler, Shapes};
use crate::{Ctx, Error, Result};

/// A handler with its extractors applied: what a route calls.
type Call = Box<dyn Fn(&mut Ctx) -> Result<Reply>>;

/// One declared route: method, path template, the scope it needs, and its handler, whose
/// argument and answer types give the route's schemas unless [`Route::request`] or
/// [`Route::response`] says otherwise.
pub struct Route {
    pub(crate) method: &'static str,
    pub(crate) path: String,
    pub(crate) scope: String,
    pub(crate) handler: Call,
    pub(crate) operation_id: Option<String>,
    pub(crate) summary: String,
    request_schema: Option<fn() -> Value>,
    response_schema: Option<fn() -> Value>,
    response_name: Option<String>,
    shapes: fn() -> Shapes,
    status: Option<u16>,
    pub(crate) public: bool,
    pub(crate) errors: Vec<(u16, String, String)>,
    /// Name, description, required.
    pub(crate) query: Vec<(&'static str, &'static str, bool)>,
}

impl Route {
    fn new<H: Handler<A>, A>(method: &'static str, path: &str, scope: &str, handler: H) -> Route {
        Route {
            method,
            path: path.to_owned(),
            scope: scope.to_owned(),
            // A function item is zero-sized: boxing it allocates nothing.
            handler: Box::new(move |cx| handler.call(cx)),
            operation_id: None,
            summary: String::new(),
            request_schema: None,
            response_schema: None,
            response_name: None,
            shapes: H::shapes,
            status: None,
            public: false,
            errors: vec![],
            query: vec![],
        }
    }

    pub fn get<H: Handler<A>, A>(path: &str, scope: &str, handler: H) -> Route {
        Route::new("GET", path, scope, handler)
    }

    pub fn post<H: Handler<A>, A>(path: &str, scope: &str, handler: H) -> Route {
        Route::new("POST", path, scope, handler)
    }

    pub fn patch<H: Handler<A>, A>(path: &str, scope: &str, handler: H) -> Route {
        Route::new("PATCH", path, scope, handler)
    }

    pub fn put<H: Handler<A>, A>(path: &str, scope: &str, handler: H) -> Route {
        Route::new("PUT", path, scope, handler)
    }

    pub fn delete<H: Handler<A>, A>(path: &str, scope: &str, handler: H) -> Route {
        Route::new("DELETE", path, scope, handler)
    }

    /// The route's shapes: the schemas given, or else the handler's types' (a schema given by
    /// hand has no name).
    pub(crate) fn shapes(&self) -> Shapes {
        let mut shapes = (self.shapes)();
        if let Some(given) = self.request_schema {
            shapes.request = Some(given());
            shapes.request_name = None;
        }
        if let Some(given) = self.response_schema {
            shapes.response = Some(given());
            shapes.response_name = self.response_name.clone();
        }
        shapes.status = self.status.or(shapes.status);
        shapes
    }

    /// The status a success answers, where the handler's answer type does not say it (a
    /// [`Reply`]); `Created<T>` is 201, `NoContent` 204, `Json<T>` and `Page<T>` 200.
    pub fn status(mut self, status: u16) -> Route {
        self.status = Some(status);
        self
    }

    /// Anyone may call this GET route, with no key (the host refuses `public` on any other
    /// method): the caller has no key id and no scopes, and calls are rate-limited per address.
    pub fn public(mut self) -> Route {
        self.public = true;
        self
    }

    /// An error this route answers, for the API document: `.error(404, "listing_not_found",
    /// "No listing has this id.")`.
    pub fn error(mut self, status: u16, code: &str, description: &str) -> Route {
        self.errors
            .push((status, code.to_owned(), description.to_owned()));
        self
    }

    /// A query parameter it reads (a filter), for the API document. A list's `limit`, `cursor`,
    /// `since` and `until` are the host's and need no declaring.
    /// [`crate::PageRequest::from`] takes these as the list's filters.
    pub fn query(mut self, name: &'static str, description: &'static str) -> Route {
        self.query.push((name, description, false));
        self
    }

    /// A query parameter it cannot do without.
    pub fn required_query(mut self, name: &'static str, description: &'static str) -> Route {
        self.query.push((name, description, true));
        self
    }

    /// The OpenAPI operation id (default: derived from method and path).
    pub fn id(mut self, operation_id: &str) -> Route {
        self.operation_id = Some(operation_id.to_owned());
        self
    }

    pub fn summary(mut self, summary: &str) -> Route {
        self.summary = summary.to_owned();
        self
    }

    /// JSON Schema of the request body, where the handler's types do not say it. A function, so
    /// answering a request (a fresh instance each time) never pays for building schemas; only
    /// `manifest()` calls it.
    pub fn request(mut self, schema: fn() -> Value) -> Route {
        self.request_schema = Some(schema);
        self
    }

    /// JSON Schema of the response body (a function, as for [`Route::request`]).
    pub fn response(mut self, schema: fn() -> Value) -> Route {
        self.response_schema = Some(schema);
        self.response_name = None;
        self
    }

    /// The success body is a `T`, where the handler answers a [`Reply`] (to set headers, or
    /// a `304`): its schema, under `T`'s name in the API document, as `Json<T>` would give.
    pub fn answers<T: schemars::JsonSchema>(mut self) -> Route {
        self.response_schema = Some(crate::answer_schema::<T>);
        self.response_name = Some(T::schema_name().into_owned());
        self
    }

    pub(crate) fn operation_id(&self) -> String {
        self.operation_id.clone().unwrap_or_else(|| {
            let mut id = self.method.to_ascii_lowercase();
            for seg in self.path.trim_start_matches("/api/v1/").split('/') {
                id.push('_');
                id.push_str(seg.trim_matches(|c| c == '{' || c == '}'));
            }
            id
        })
    }
}

#[derive(Default)]
pub struct Router {
    pub(crate) routes: Vec<Route>,
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    pub fn route(mut self, route: Route) -> Router {
        self.routes.push(route);
        self
    }

    pub(crate) fn dispatch(&self, request: wit::Request) -> wit::Response {
        let route = self
            .routes
            .iter()
            .find(|r| r.method == request.method && r.path == request.route);
        let Some(route) = route else {
            return Error::new(404, "not_found", "No such endpoint.").into_response();
        };
        let declared = route.query.iter().map(|(name, _, _)| *name).collect();
        let mut cx = Ctx::for_request(request, declared);
        match (route.handler)(&mut cx) {
            Ok(reply) => reply.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

/// A successful answer.
pub struct Reply {
    status: u16,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

impl Reply {
    pub fn json<T: Serialize>(status: u16, value: &T) -> Result<Reply> {
        Ok(Reply {
            status,
            body: serde_json::to_vec(value)?,
            headers: vec![],
        })
    }

    /// A response header: `ETag`, `Last-Modified`, `Location`, `Cache-Control`, a
    /// `Content-Type` of its own… The host drops the ones it owns (the request id, rate limits,
    /// CORS, `Set-Cookie`, framing).
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `304`: the client's copy (`If-None-Match`) is current.
    pub fn not_modified() -> Result<Reply> {
        Reply::bytes(304, vec![])
    }

    /// `200` with JSON.
    pub fn ok<T: Serialize>(value: &T) -> Result<Reply> {
        Reply::json(200, value)
    }

    /// `201` with JSON.
    pub fn created<T: Serialize>(value: &T) -> Result<Reply> {
        Reply::json(201, value)
    }

    pub fn no_content() -> Result<Reply> {
        Reply::bytes(204, vec![])
    }

    /// An error as an answer, so headers can ride on it ([`Reply::header`]): the host renders
    /// it in the envelope with the request id, as any error, and keeps them.
    pub fn error(error: Error) -> Reply {
        let response = error.into_response();
        Reply {
            status: response.status,
            body: response.body,
            headers: vec![],
        }
    }

    /// Raw bytes (with their own `Content-Type`, if any, set by [`Reply::header`]).
    pub fn bytes(status: u16, body: Vec<u8>) -> Result<Reply> {
        Ok(Reply {
            status,
            body,
            headers: vec![],
        })
    }

    fn into_response(self) -> wit::Response {
        let typed = self
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        let json = (!self.body.is_empty() && !typed).then(|| wit::Header {
            name: "content-type".into(),
            value: "application/json".into(),
        });
        let headers = json
            .into_iter()
            .chain(
                self.headers
                    .into_iter()
                    .map(|(name, value)| wit::Header { name, value }),
            )
            .collect();
        wit::Response {
            status: self.status,
            headers,
            body: self.body,
        }
    }
}
