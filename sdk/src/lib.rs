//! The Mobieus plugin SDK: write a product surface as a WebAssembly component the way you would
//! write an axum service.
//!
//! ```ignore
//! use mobieus_sdk::prelude::*;
//!
//! struct Guestbook;
//!
//! impl Plugin for Guestbook {
//!     fn manifest() -> Manifest {
//!         Manifest::new("guestbook", env!("CARGO_PKG_VERSION"))
//!             .claims(["guestbook"])
//!             .scope("guestbook:read", "Read entries")
//!             .event("guestbook.entry_created", "An entry was written")
//!             .migration(1, "entries", "CREATE TABLE guestbook_entries (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
//!     }
//!     fn router() -> Router {
//!         Router::new()
//!             .route(Route::get("/api/v1/guestbook/entries", "guestbook:read", list))
//!             .route(Route::post("/api/v1/guestbook/entries", "guestbook:write", create))
//!     }
//! }
//!
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! struct Entry { id: String, body: String }
//!
//! #[derive(Deserialize, JsonSchema, Validate)]
//! struct NewEntry { #[garde(length(chars, min = 1, max = 2000))] body: String }
//!
//! fn list(cx: &mut Ctx) -> Result<Page<Entry>> { ... }
//! fn create(cx: &mut Ctx, Json(new): Json<NewEntry>) -> Result<Created<Entry>> { ... }
//!
//! mobieus_sdk::export!(Guestbook);
//! ```
//!
//! The manifest's routes come from the router, so the route list is written once; each shape is
//! a Rust type, from which the route's schemas, the body's checks and the row mapping come.

// `Error` carries the envelope's extra fields by value: an error ends the request, so its size on
// the happy path's stack costs nothing worth a box on every handler signature.
#![allow(clippy::result_large_err)]

mod ai;
mod ctx;
mod db;
mod error;
mod extract;
mod host;
mod manifest;
mod paging;
mod router;
mod rows;
#[cfg(not(target_family = "wasm"))]
pub mod testing;

#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../wit/since_v1.1.0",
        pub_export_macro: true,
        export_macro_name: "export_plugin",
        default_bindings_module: "mobieus_sdk::bindings",
    });
}

pub use ai::{Completion, Prompt};
pub use ctx::{Answer, Caller, Ctx, Event, FileInfo, FileReader, Mail, Timer, User};
pub use db::{Db, FromSql, Row, ToSql, Value};
pub use error::{Error, Result};
pub use extract::{
    Created, FromRequest, Handler, IntoReply, Json, JsonOrDefault, NoContent, Path, answer_schema,
    check, schema,
};
pub use manifest::{Capability, Manifest};
pub use paging::{Filter, Page, PageRequest, page_schema};
pub use router::{Reply, Route, Router};
pub use rows::{HasId, columns};
/// serde_json, re-exported so plugins need no version of their own.
pub use serde_json as json;
pub use serde_json::json;
/// garde and schemars, re-exported: `#[derive(Validate, JsonSchema)]` on a plugin's types.
pub use {garde, schemars};

/// Everything a plugin usually needs.
pub mod prelude {
    pub use crate::{
        Capability, Completion, Created, Ctx, Db, Error, Event, Filter, HasId, Json, JsonOrDefault,
        Mail, Manifest, NoContent, Page, PageRequest, Path, Plugin, Prompt, Reply, Result, Route,
        Router, Timer, Value, json,
    };
    pub use garde::Validate;
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
}

/// A surface. Implement it and call [`export!`] once.
pub trait Plugin {
    /// Name, version, namespaces, scopes, events, migrations. Routes are added from
    /// [`Plugin::router`].
    fn manifest() -> Manifest;
    fn router() -> Router;
    /// An event of a type listed with [`Manifest::subscribe`], after it committed. Delivered at
    /// least once: make it idempotent. The default ignores it.
    fn on_event(_cx: &mut Ctx, _event: &Event) -> std::result::Result<(), String> {
        Ok(())
    }
    /// A timer it set with [`Ctx::set_timer`] came due (declare [`Capability::Timers`]). At least
    /// once, in a write transaction: an `Err` rolls back what it did and the host tries again
    /// later. The default ignores it.
    fn on_timer(_cx: &mut Ctx, _timer: &Timer) -> std::result::Result<(), String> {
        Ok(())
    }
}

#[doc(hidden)]
pub mod __private {
    use super::*;
    use bindings::mobieus::plugin::types as wit;

    pub fn manifest<P: Plugin>() -> wit::Manifest {
        P::manifest().into_wit(&P::router())
    }

    pub fn manifest_extension<P: Plugin>() -> wit::ManifestExtension {
        P::manifest().extension(&P::router())
    }

    pub fn on_timer<P: Plugin>(timer: wit::Timer) -> std::result::Result<(), String> {
        P::on_timer(&mut Ctx::for_event(), &Timer::from(timer))
    }

    pub fn handle<P: Plugin>(request: wit::Request) -> wit::Response {
        P::router().dispatch(request)
    }

    pub fn on_event<P: Plugin>(event: wit::Event) -> std::result::Result<(), String> {
        let event = Event::from(event);
        P::on_event(&mut Ctx::for_event(), &event)
    }
}

/// Exports a [`Plugin`] as the component's `manifest`, `manifest-extension`, `handle`,
/// `on-event` and `on-timer`.
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        struct __MobieusExport;
        impl $crate::bindings::Guest for __MobieusExport {
            fn manifest() -> $crate::bindings::mobieus::plugin::types::Manifest {
                $crate::__private::manifest::<$plugin>()
            }
            fn handle(
                request: $crate::bindings::mobieus::plugin::types::Request,
            ) -> $crate::bindings::mobieus::plugin::types::Response {
                $crate::__private::handle::<$plugin>(request)
            }
            fn on_event(event: $crate::bindings::mobieus::plugin::types::Event) -> ::core::result::Result<(), ::std::string::String> {
                $crate::__private::on_event::<$plugin>(event)
            }
            fn manifest_extension() -> $crate::bindings::mobieus::plugin::types::ManifestExtension {
                $crate::__private::manifest_extension::<$plugin>()
            }
            fn on_timer(timer: $crate::bindings::mobieus::plugin::types::Timer) -> ::core::result::Result<(), ::std::string::String> {
                $crate::__private::on_timer::<$plugin>(timer)
            }
        }
        $crate::bindings::export_plugin!(__MobieusExport with_types_in $crate::bindings);
    };
}
