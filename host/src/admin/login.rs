//! Signing in and out, and the one-time setup link that sets an admin's password.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

use crate::admin::accounts;
use crate::admin::page::{self, PageResult, Refused, blocking};
use crate::admin::session::{
    self, Console, FORM_COOKIE, Posted, PostedAnonymously, SESSION_COOKIE, SESSION_FOR, set_cookie,
};
use crate::audit;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Where to go after login: a console path of this host, never another site.
fn next_path(next: &str) -> &str {
    let local = next.starts_with("/admin") && !next.starts_with("//") && !next.contains('\\');
    if local { next } else { "/admin/api-keys" }
}

/// A page with a form for someone not signed in: a fresh form token in the page and its cookie.
fn anonymous_form(
    status: StatusCode,
    headers: &HeaderMap,
    template: &str,
    page: minijinja::Value,
) -> Response {
    let token = accounts::random_token();
    let mut response =
        page::render_anonymous(status, template, context! { csrf => &token, ..page });
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(headers, FORM_COOKIE, &token, 3600),
    );
    response
}

pub async fn login_page(
    console: Console,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = next_path(q.next.as_deref().unwrap_or("")).to_owned();
    anonymous_form(
        StatusCode::OK,
        &headers,
        "admin/login.html",
        context! { tenant => console.tenant.slug.as_str(), next },
    )
}

pub async fn login(State(state): State<AppState>, posted: PostedAnonymously) -> PageResult {
    let PostedAnonymously {
        console,
        form,
        headers,
        ip,
    } = posted;
    // As typed, but bounded: it lands in the audit log when the login fails.
    let email: String = form.get("email").chars().take(254).collect();
    let password = form.raw("password").to_owned();
    let next = next_path(form.get("next")).to_owned();
    let tenant = console.tenant.id.clone();
    let slug = console.tenant.slug.as_str().to_owned();
    let retry = |status, error: &str| {
        anonymous_form(
            status,
            &headers,
            "admin/login.html",
            context! { tenant => &slug, next => &next, email => &email, error },
        )
    };
    if let Some(wait) = state.admin_logins.wait(&tenant, &ip, &email) {
        let mut response = retry(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many failed attempts. Try again in {} minutes.",
                wait.div_ceil(60)
            ),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, wait.into());
        return Ok(response);
    }
    // The password is checked on the blocking pool, not on the tenant's writer: argon2 takes
    // tens of milliseconds, and every write of the tenant would wait behind it.
    let (db, e) = (console.db.clone(), email.clone());
    let admin = blocking(move || {
        let found = db.read(|c| Ok::<_, anyhow::Error>(accounts::credentials(c, &e)?))?;
        Ok(accounts::verify(found, &password))
    })
    .await?;
    let (db, e, ip2) = (console.db.clone(), email.clone(), ip.clone());
    let signed_in_as = blocking(move || {
        db.write(move |w| {
            let now = Utc::now();
            let details = json!({ "ip": ip2 });
            let Some(admin) = admin else {
                let actor = format!("login:{e}");
                audit::record(w, &actor, "admin.login_failed", None, details, now)?;
                return Ok(None);
            };
            accounts::record_login(w, &admin.id, now)?;
            let token = session::start(w, &admin.id, &ip2, now)?;
            audit::record(
                w,
                &admin.actor(),
                "admin.logged_in",
                Some(&admin.id),
                details,
                now,
            )?;
            Ok(Some(token))
        })
    })
    .await?;
    Ok(match signed_in_as {
        Some(token) => {
            state.admin_logins.succeeded(&tenant, &ip, &email);
            signed_in(&headers, &token, &next)
        }
        None => {
            state.admin_logins.failed(&tenant, &ip, &email);
            retry(
                StatusCode::UNAUTHORIZED,
                "The email or the password is wrong.",
            )
        }
    })
}

fn signed_in(headers: &HeaderMap, token: &str, next: &str) -> Response {
    let mut response = Redirect::to(next).into_response();
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(headers, SESSION_COOKIE, token, SESSION_FOR.num_seconds()),
    );
    h.append(header::SET_COOKIE, set_cookie(headers, FORM_COOKIE, "", 0));
    response
}

pub async fn logout(headers: HeaderMap, Posted(admin, _): Posted) -> PageResult {
    let db = admin.console.db.clone();
    blocking(move || {
        db.write(move |w| {
            session::end(w, &admin)?;
            let id = Some(admin.account.id.as_str());
            audit::record(
                w,
                &admin.actor(),
                "admin.logged_out",
                id,
                json!({}),
                Utc::now(),
            )?;
            Ok(())
        })
    })
    .await?;
    let mut response = Redirect::to("/admin/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, SESSION_COOKIE, "", 0),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct SetupQuery {
    token: Option<String>,
}

fn invalid_link() -> Response {
    page::message(
        StatusCode::GONE,
        "This setup link no longer works",
        "It was used already or it expired. Ask for a new one: mobieus admin create --tenant SLUG --email EMAIL",
    )
}

async fn admin_of_link(console: &Console, token: &str) -> Result<accounts::Admin, Refused> {
    let (db, token) = (console.db.clone(), token.to_owned());
    blocking(move || db.read(|c| Ok(accounts::by_setup_token(c, &token, Utc::now())?)))
        .await?
        .ok_or_else(|| invalid_link().into())
}

pub async fn setup_page(
    console: Console,
    headers: HeaderMap,
    Query(q): Query<SetupQuery>,
) -> PageResult {
    let token = q.token.unwrap_or_default();
    let admin = admin_of_link(&console, &token).await?;
    Ok(anonymous_form(
        StatusCode::OK,
        &headers,
        "admin/setup.html",
        context! { tenant => console.tenant.slug.as_str(), email => admin.email, token },
    ))
}

pub async fn setup(posted: PostedAnonymously) -> PageResult {
    let PostedAnonymously {
        console,
        form,
        headers,
        ip,
    } = posted;
    let token = form.get("token").to_owned();
    let (password, confirm) = (
        form.raw("password").to_owned(),
        form.raw("confirm").to_owned(),
    );
    let admin = admin_of_link(&console, &token).await?;
    if let Err(error) = accounts::check_password_rules(&password, &confirm) {
        return Ok(anonymous_form(
            StatusCode::BAD_REQUEST,
            &headers,
            "admin/setup.html",
            context! { tenant => console.tenant.slug.as_str(), email => admin.email, token, error },
        ));
    }
    let db = console.db.clone();
    let session = blocking(move || {
        let hash = accounts::hash_password(&password)?;
        db.write(move |w| {
            let now = Utc::now();
            // The token is checked again inside the write: two tabs cannot both spend it.
            if accounts::by_setup_token(w, &token, now)?.is_none() {
                return Ok(None);
            }
            accounts::set_password(w, &admin.id, &hash)?;
            let session = session::start(w, &admin.id, &ip, now)?;
            audit::record(
                w,
                &admin.actor(),
                "admin.password_set",
                Some(&admin.id),
                json!({}),
                now,
            )?;
            Ok(Some(session))
        })
    })
    .await?
    .ok_or_else(invalid_link)?;
    Ok(signed_in(&headers, &session, "/admin/api-keys"))
}
