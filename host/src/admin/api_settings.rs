//! `/admin/api/settings`: the community's default rate limit, CORS origins and upload cap. The
//! gate reads them on every request, so a change applies to the next one.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use chrono::Utc;
use minijinja::context;

use crate::admin::keys::Notice;
use crate::admin::page::{self, PageResult, blocking};
use crate::admin::session::{Admin, Posted};
use crate::settings;

/// The form's fields, by setting.
const FIELDS: &[(&str, &str)] = &[
    ("rate_limit", settings::DEFAULT_RATE_LIMIT),
    ("cors_origins", settings::CORS_ALLOWED_ORIGINS),
    ("max_upload_bytes", settings::FILES_MAX_UPLOAD_BYTES),
];

async fn form_page(
    admin: &Admin,
    status: StatusCode,
    notice: Option<(&str, &str)>,
    error: Option<String>,
) -> PageResult {
    let db = admin.console.db.clone();
    let all = blocking(move || db.read(|c| Ok(settings::all(c)?))).await?;
    let value = |name: &str| all.get(name).cloned().unwrap_or_default();
    Ok(page::render(
        admin,
        status,
        "admin/settings.html",
        "settings",
        context! {
            rate_limit => value(settings::DEFAULT_RATE_LIMIT),
            cors_origins => value(settings::CORS_ALLOWED_ORIGINS).replace(',', "\n"),
            max_upload_bytes => value(settings::FILES_MAX_UPLOAD_BYTES),
            notice, error,
        },
    ))
}

pub async fn index(admin: Admin, Query(q): Query<Notice>) -> PageResult {
    let notice = q.notice.as_deref().and_then(page::notice);
    form_page(&admin, StatusCode::OK, notice, None).await
}

pub async fn save(Posted(admin, form): Posted) -> PageResult {
    let mut values = vec![];
    for (field, name) in FIELDS {
        // Origins may come one per line; the setting keeps them comma-separated.
        let raw = form.get(field).replace(['\r', '\n'], ",");
        let raw = raw.trim_matches(',').trim();
        let cleared = raw.is_empty() && *name != settings::CORS_ALLOWED_ORIGINS;
        let raw = if cleared { "none" } else { raw };
        match settings::normalize(name, raw) {
            Ok(v) => values.push((*name, v)),
            Err(error) => {
                return form_page(&admin, StatusCode::BAD_REQUEST, None, Some(error)).await;
            }
        }
    }
    let (db, actor) = (admin.console.db.clone(), admin.actor());
    blocking(move || {
        db.write(move |w| {
            let now = Utc::now();
            let current = settings::all(w)?;
            for (name, value) in &values {
                if current.get(*name) != value.as_ref() {
                    settings::set_by(w, &actor, name, value.as_deref(), now)?;
                }
            }
            Ok(())
        })
    })
    .await?;
    Ok(Redirect::to("/admin/api/settings?notice=settings_saved").into_response())
}
