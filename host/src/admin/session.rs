//! Who is at the console: the session cookie, the CSRF token every form carries, and the login
//! throttle. A session lives in the tenant's own file, so a cookie of tenant A means nothing on
//! tenant B's host.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use subtle::ConstantTimeEq;
use tenants::{Env, Tenant, TenantDb};

use crate::admin::accounts::{self, Admin as Account};
use crate::admin::page::{self, Refused, blocking};
use crate::http::json::{Unread, read_up_to};
use crate::http::tenant_host;
use crate::state::AppState;
use crate::time::to_rfc3339;

pub const SESSION_COOKIE: &str = "mobieus_admin";
/// Before there is a session (login, setup), forms carry this cookie's value instead.
pub const FORM_COOKIE: &str = "mobieus_form";
pub const SESSION_FOR: chrono::Duration = chrono::Duration::hours(12);

/// The tenant whose console this host is, with its live file.
#[derive(Clone)]
pub struct Console {
    pub tenant: Arc<Tenant>,
    pub db: Arc<TenantDb>,
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refused> {
        let slug = tenant_host::tenant_slug(
            &parts.headers,
            &parts.uri,
            &state.config.base_domain,
            state.store.registry(),
        );
        let Some(slug) = slug else {
            return Err(page::message(
                StatusCode::NOT_FOUND,
                "No community here",
                "The admin console is at your community's own address, e.g. acme.localhost.",
            )
            .into());
        };
        let state = state.clone();
        let found = blocking(move || {
            let Some(tenant) = state.store.tenant(&slug)? else {
                return Ok(None);
            };
            let db = state.store.db(&tenant, Env::Live)?;
            Ok(Some(Console { tenant, db }))
        })
        .await?;
        found.ok_or_else(|| {
            page::message(
                StatusCode::NOT_FOUND,
                "No community here",
                "No community is served at this address.",
            )
            .into()
        })
    }
}

/// A signed-in admin of the request's tenant. Pages and actions take it; without a valid
/// session the browser is sent to the login page.
#[derive(Clone)]
pub struct Admin {
    pub console: Console,
    pub account: Account,
    pub csrf: String,
    token_hash: Vec<u8>,
}

impl Admin {
    /// Who the audit log names.
    pub fn actor(&self) -> String {
        self.account.actor()
    }

    pub fn tenant_slug(&self) -> &str {
        self.console.tenant.slug.as_str()
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refused> {
        let console = Console::from_request_parts(parts, state).await?;
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/admin");
            let next = if parts.method == Method::GET {
                next
            } else {
                "/admin"
            };
            Redirect::to(&format!("/admin/login?next={}", urlencode(next))).into_response()
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login().into());
        };
        let hash = accounts::token_hash(&token);
        let (db, h) = (console.db.clone(), hash.clone());
        let found = blocking(move || db.read(|c| Ok(find(c, &h, Utc::now())?))).await?;
        let Some((account, csrf)) = found else {
            return Err(to_login().into());
        };
        Ok(Admin {
            console,
            account,
            csrf,
            token_hash: hash,
        })
    }
}

fn find(
    conn: &Connection,
    hash: &[u8],
    now: DateTime<Utc>,
) -> rusqlite::Result<Option<(Account, String)>> {
    conn.query_row(
        &format!(
            "SELECT a.id, a.email, s.csrf_token FROM admin_sessions s JOIN admins a ON a.id = s.admin_id
             WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND {}",
            accounts::console_allowed("a.email")
        ),
        params![hash, to_rfc3339(&now)],
        |r| {
            Ok((
                Account {
                    id: r.get(0)?,
                    email: r.get(1)?,
                },
                r.get(2)?,
            ))
        },
    )
    .optional()
}

/// Starts a session; returns the cookie's token (stored only as its hash).
pub fn start(
    conn: &Connection,
    admin_id: &str,
    ip: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<String> {
    let token = accounts::random_token();
    conn.execute(
        "DELETE FROM admin_sessions WHERE expires_at <= ?1",
        [to_rfc3339(&now)],
    )?;
    conn.execute(
        "INSERT INTO admin_sessions (token_hash, admin_id, csrf_token, created_at, expires_at, ip)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            accounts::token_hash(&token),
            admin_id,
            accounts::random_token(),
            to_rfc3339(&now),
            to_rfc3339(&(now + SESSION_FOR)),
            ip
        ],
    )?;
    Ok(token)
}

pub fn end(conn: &Connection, admin: &Admin) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM admin_sessions WHERE token_hash = ?1",
        [&admin.token_hash],
    )?;
    Ok(())
}

/// `Set-Cookie` for a cookie scoped to the console: HttpOnly, SameSite=Strict, and Secure when
/// the request came over HTTPS (directly or through a proxy that says so).
pub fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let cookie = format!(
        "{name}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).expect("cookie values are URL-safe")
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

pub fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A posted form's fields, in order; checkboxes may repeat a name.
#[derive(Debug, Default)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> Option<FormData> {
        serde_urlencoded::from_bytes(body).ok().map(FormData)
    }

    /// The field, trimmed; "" when absent.
    pub fn get(&self, name: &str) -> &str {
        self.raw(name).trim()
    }

    /// The field exactly as typed (passwords keep their spaces); "" when absent.
    pub fn raw(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }
}

/// The most a form posted before sign-in may be (login, setup).
const FORM_MAX: usize = 64 * 1024;
/// The most a signed-in admin's form may be: a plugin's largest JSON body, URL-encoded (a
/// broadcast's HTML from its data page).
const SIGNED_IN_FORM_MAX: usize = 3 * crate::http::json::BODY_LIMIT;

/// The form's fields, up to `cap` bytes. Its sender is known before: no body is read for
/// someone the console would refuse anyway.
async fn read_form(parts: &Parts, body: axum::body::Body, cap: usize) -> Result<FormData, Refused> {
    let refused = || {
        page::message(
            StatusCode::BAD_REQUEST,
            "Unreadable form",
            "The form could not be read; go back and try again.",
        )
    };
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(refused().into());
    }
    if !same_origin(&parts.headers) {
        tracing::warn!(origin = ?parts.headers.get(header::ORIGIN), host = ?parts.headers.get(header::HOST),
            path = parts.uri.path(), "admin form refused: posted from another origin");
        return Err(csrf_refused().into());
    }
    let bytes = match read_up_to(body, cap).await {
        Ok(bytes) => bytes,
        Err(Unread::TooLarge) => {
            return Err(page::message(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                &format!("The form is larger than {} KiB; send less.", cap / 1024),
            )
            .into());
        }
        Err(Unread::Broken) => return Err(refused().into()),
    };
    Ok(FormData::parse(&bytes).ok_or_else(refused)?)
}

/// A browser names the page a form came from; refuse any other site's.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

fn csrf_refused() -> Response {
    page::message(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form's security token does not match your session. Reload the page and submit it again.",
    )
}

/// A form posted by a signed-in admin, its CSRF token checked against the session's.
pub struct Posted(pub Admin, pub FormData);

impl FromRequest<AppState> for Posted {
    type Rejection = Refused;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Refused> {
        let (mut parts, body) = req.into_parts();
        let admin = Admin::from_request_parts(&mut parts, state).await?;
        let form = read_form(&parts, body, SIGNED_IN_FORM_MAX).await?;
        if !same(form.get("csrf"), &admin.csrf) {
            tracing::warn!(
                path = parts.uri.path(),
                "admin form refused: its token is not the session's"
            );
            return Err(csrf_refused().into());
        }
        Ok(Posted(admin, form))
    }
}

/// A form posted before there is a session (login, setup): its token must match the form cookie.
pub struct PostedAnonymously {
    pub console: Console,
    pub form: FormData,
    pub headers: HeaderMap,
    pub ip: String,
}

impl FromRequest<AppState> for PostedAnonymously {
    type Rejection = Refused;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Refused> {
        let (mut parts, body) = req.into_parts();
        let console = Console::from_request_parts(&mut parts, state).await?;
        let form = read_form(&parts, body, FORM_MAX).await?;
        let expected = cookie(&parts.headers, FORM_COOKIE).unwrap_or_default();
        if !same(form.get("csrf"), &expected) {
            tracing::warn!(
                path = parts.uri.path(),
                has_cookie = !expected.is_empty(),
                "admin form refused: its token does not match the form cookie"
            );
            return Err(csrf_refused().into());
        }
        Ok(PostedAnonymously {
            console,
            form,
            ip: client_ip(&parts),
            headers: parts.headers,
        })
    }
}

pub fn client_ip(parts: &Parts) -> String {
    crate::http::client_ip::of(&parts.extensions)
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_forms_parse() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; mobieus_admin=tok; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&h, "c"), None);
        let f = FormData::parse(b"scopes=a%3Aread&scopes=b%3Aread&label=+x+").unwrap();
        assert_eq!(f.all("scopes"), ["a:read", "b:read"]);
        assert_eq!(f.get("label"), "x");
        assert!(!same("", ""));
        assert!(same("abc", "abc") && !same("abc", "abd"));
    }
}
