//! Service chaining (contract 1.1 `surfaces`): a plugin's GET of another surface's or the host's
//! route in the same tenant. The host makes the request to its own app, in process, with the
//! caller's own credential header: the same gate, rate limit, scope check and handler as any
//! request, so a plugin gets what its caller may have, never more. A request made this way
//! carries its depth ([`Depth`], an extension no client can set); past [`MAX_DEPTH`] the call is
//! refused, so no loop of surfaces can form. The wait is bounded by the calling plugin's own
//! deadline: a host call is not interrupted by the epoch, so a sub-request that cannot be served
//! (its plugin's threads all busy) must give up by itself.

use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, Request, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::plugins::bindings::types::{self, Error};

/// A chain of calls is at most this deep: a route's plugin may call a surface, which may not
/// call another. Each plugin call of a chain holds one of its plugin's read threads while the
/// next runs, so the chain must stay shorter than a plugin's share of them.
pub const MAX_DEPTH: u8 = 1;

/// How deep in a chain of surface calls a request stands.
#[derive(Debug, Clone, Copy)]
pub struct Depth(pub u8);

/// The app, for the requests the host makes on a plugin's behalf: set once it is built.
#[derive(Default)]
pub struct Surfaces {
    app: OnceLock<(Router, tokio::runtime::Handle)>,
}

/// What a call may ask with: its caller's credential and address, the tenant's host, its depth.
#[derive(Clone)]
pub struct Asker {
    pub host: HeaderValue,
    pub credential: Option<(HeaderName, HeaderValue)>,
    pub client: Option<ConnectInfo<SocketAddr>>,
    pub depth: u8,
    pub surfaces: std::sync::Arc<Surfaces>,
    /// The calling plugin's deadline: the request gives up then.
    pub deadline: std::time::Instant,
}

impl Surfaces {
    /// Called once the app is built, inside the runtime.
    pub fn serve(&self, app: Router) {
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let _ = self.app.set((app, handle));
        }
    }
}

impl Asker {
    /// The caller's credential header, as it sent it (never shown to the plugin).
    pub fn credential_of(headers: &axum::http::HeaderMap) -> Option<(HeaderName, HeaderValue)> {
        [header::AUTHORIZATION, HeaderName::from_static("x-api-key")]
            .into_iter()
            .find_map(|name| headers.get(&name).cloned().map(|value| (name, value)))
    }

    /// The same asker with a deadline `limit` from now: each run of a call, and each ask
    /// answered between runs, waits by its own.
    pub fn renewed(&self, limit: std::time::Duration) -> Asker {
        Asker {
            deadline: std::time::Instant::now() + limit,
            ..self.clone()
        }
    }

    /// Whether `path` may be asked for from this depth.
    pub fn check(&self, path: &str) -> Result<(), Error> {
        if self.depth >= MAX_DEPTH {
            return Err(Error::Denied(format!(
                "a chain of surface calls is at most {MAX_DEPTH} deep"
            )));
        }
        if !path.starts_with("/api/v1/") || path.contains(['#', ' ']) {
            return Err(Error::Invalid(format!(
                "`{path}` is not a path under /api/v1/"
            )));
        }
        Ok(())
    }

    /// GETs `path` as the caller; blocks this (plugin) thread until the answer is read, up to
    /// `cap` bytes of body.
    pub fn get(&self, path: &str, cap: usize) -> Result<types::Response, Error> {
        self.check(path)?;
        let (_, runtime) = self.app()?;
        runtime.block_on(self.fetch(path, cap))
    }

    fn app(&self) -> Result<&(Router, tokio::runtime::Handle), Error> {
        self.surfaces
            .app
            .get()
            .ok_or_else(|| Error::Failed("the server is not serving yet".into()))
    }

    /// GETs `path` as the caller, up to `cap` bytes of body, by the calling plugin's deadline.
    pub async fn fetch(&self, path: &str, cap: usize) -> Result<types::Response, Error> {
        self.check(path)?;
        let (app, _) = self.app()?;
        let mut request = Request::get(path)
            .header(header::HOST, self.host.clone())
            .body(Body::empty())
            .map_err(|e| Error::Invalid(format!("`{path}`: {e}")))?;
        if let Some((name, value)) = &self.credential {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        if let Some(client) = self.client {
            request.extensions_mut().insert(client);
        }
        request.extensions_mut().insert(Depth(self.depth + 1));
        let app = app.clone();
        let left = self
            .deadline
            .saturating_duration_since(std::time::Instant::now());
        let response = tokio::time::timeout(left, app.oneshot(request))
            .await
            .map_err(|_| Error::Failed("no answer before the call's deadline".into()))?
            .map_err(|e| Error::Failed(e.to_string()))?;
        let (parts, body) = response.into_parts();
        let body = http_body_util::Limited::new(body, cap)
            .collect()
            .await
            .map_err(|_| Error::Failed(format!("the answer is over {cap} bytes")))?
            .to_bytes();
        let headers = parts
            .headers
            .iter()
            .filter(|(name, _)| *name != header::SET_COOKIE)
            .filter_map(|(name, value)| {
                Some(types::Header {
                    name: name.as_str().to_owned(),
                    value: value.to_str().ok()?.to_owned(),
                })
            })
            .collect();
        Ok(types::Response {
            status: parts.status.as_u16(),
            headers,
            body: body.to_vec(),
        })
    }
}
