//! `/api/docs`: Redoc rendering this host's document (`/api/openapi.json`). Every script, style
//! and font comes from the binary (`crate::ui`); the page's CSP forbids anything else.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use crate::http::tenant_host;
use crate::state::AppState;

pub async fn page(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let title = tenant_host::tenant_slug(
        &headers,
        &uri,
        &state.config.base_domain,
        state.store.registry(),
    )
    .unwrap_or_else(|| "Mobieus".to_owned());
    crate::ui::render(StatusCode::OK, "docs.html", minijinja::context! { title })
}
