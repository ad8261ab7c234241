//! `/admin/scim`: the tenant's SCIM tokens, as `mobieus scim token` manages them: mint one (its
//! plaintext shown once, with the base URL to give the identity provider), revoke one.

use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use chrono::Utc;
use minijinja::{Value, context};

use crate::admin::keys::Notice;
use crate::admin::page::{self, PageResult, blocking};
use crate::admin::session::{Admin, Posted};
use crate::auth::scim_tokens;

/// Where the identity provider sends its requests: this host's `/scim/v2`.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    format!("{}://{host}/scim/v2", if https { "https" } else { "http" })
}

async fn tokens_page(
    admin: &Admin,
    headers: &HeaderMap,
    status: StatusCode,
    extra: Value,
) -> PageResult {
    let db = admin.console.db.clone();
    let tokens = blocking(move || db.read(|c| Ok(scim_tokens::list(c)?))).await?;
    let rows: Vec<Value> = tokens
        .iter()
        .map(|t| {
            context! {
                id => &t.id, prefix => &t.prefix, label => &t.label, created_at => &t.created_at,
                revoked_at => &t.revoked_at, last_used_at => &t.last_used_at,
            }
        })
        .collect();
    Ok(page::render(
        admin,
        status,
        "admin/scim.html",
        "scim",
        context! { tokens => rows, base_url => base_url(headers), ..extra },
    ))
}

pub async fn index(admin: Admin, headers: HeaderMap, Query(q): Query<Notice>) -> PageResult {
    let notice = q.notice.as_deref().and_then(page::notice);
    tokens_page(&admin, &headers, StatusCode::OK, context! { notice }).await
}

pub async fn create(headers: HeaderMap, Posted(admin, form): Posted) -> PageResult {
    let label = form.get("label").trim().to_owned();
    if let Err(e) = crate::domain::validate::text("label", &label, 0, 100, false) {
        let error = e.message.to_string();
        return tokens_page(
            &admin,
            &headers,
            StatusCode::BAD_REQUEST,
            context! { error },
        )
        .await;
    }
    let (db, actor) = (admin.console.db.clone(), admin.actor());
    let (token, plaintext) = blocking(move || {
        db.write(move |w| {
            let label = (!label.is_empty()).then_some(label.as_str());
            Ok(scim_tokens::mint_by(w, &actor, label, Utc::now())?)
        })
    })
    .await?;
    let created = context! { id => token.id, plaintext };
    tokens_page(&admin, &headers, StatusCode::CREATED, context! { created }).await
}

pub async fn revoke(
    Path(id): Path<String>,
    headers: HeaderMap,
    Posted(admin, form): Posted,
) -> PageResult {
    if form.get("confirm") != "yes" {
        let error = "Tick the box to confirm: the identity provider stops provisioning at once.";
        return tokens_page(
            &admin,
            &headers,
            StatusCode::BAD_REQUEST,
            context! { error },
        )
        .await;
    }
    let (db, actor) = (admin.console.db.clone(), admin.actor());
    let revoked = blocking(move || {
        db.write(move |w| Ok(scim_tokens::revoke_by(w, &actor, &id, Utc::now())?))
    })
    .await?;
    match revoked {
        Some(_) => Ok(Redirect::to("/admin/scim?notice=scim_token_revoked").into_response()),
        None => Err(page::message(
            StatusCode::NOT_FOUND,
            "No such token",
            "This community has no SCIM token with that id.",
        )
        .into()),
    }
}
