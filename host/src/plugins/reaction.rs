//! A plugin's reaction to something that happened after a commit (`on-event`, `on-timer`): one
//! call inside the current writer job, in a savepoint, under the sandbox in write mode. Its
//! writes, events and timers stay only if it succeeds.

use tenants::db::Write;

use crate::error::ApiError;
use crate::files::blobs::Blobs;
use crate::plugins::registry::{LoadedPlugin, Plugins};
use crate::plugins::runtime::{CallError, Pre, Runtime};
use crate::plugins::sandbox::{Bounds, Installed, Mode};
use crate::plugins::state::{Call, Emits, Tx};

/// What the reaction is: its request id (for the log) and what it may emit.
pub struct Reaction {
    pub request_id: String,
    pub emits: Emits,
    /// The tenant file's uploads, for the `files` capability.
    pub blobs: Option<Blobs>,
    /// The tenant's settings and flags for the plugin, for `config`.
    pub settings: std::sync::Arc<std::collections::HashMap<String, String>>,
    /// For `secrets`.
    pub sealing: Option<crate::plugins::state::Sealing>,
}

/// Runs `react` for `plugin`. `Ok(Err(why))` when the plugin failed (nothing of it is kept);
/// `Err` when the host could not run it.
pub fn run(
    w: &mut Write<'_>,
    plugins: &Plugins,
    plugin: &LoadedPlugin,
    reaction: Reaction,
    react: impl FnOnce(&Runtime, &Pre, Call) -> Result<(), CallError>,
) -> Result<Result<(), String>, ApiError> {
    let name = &plugin.manifest.name;
    w.execute("SAVEPOINT reaction", [])?;
    let outcome = {
        let bounds = Bounds::for_call(&plugins.runtime.limits);
        let capabilities = plugin.manifest.capabilities;
        let sandbox = Installed::new(w.connection(), name, capabilities, Mode::Write, &bounds)?;
        let call = Call {
            plugin: name.clone(),
            capabilities,
            declared_events: plugin.events.clone(),
            tx: Tx::Write((w as *mut Write<'_>).cast::<Write<'static>>()),
            rules: Some(sandbox.rules()),
            settings: reaction.settings,
            request_id: reaction.request_id,
            emits: reaction.emits,
            blobs: reaction.blobs,
            asker: None,
            answers: None,
            bars_console: false,
            sealing: reaction.sealing,
        };
        react(&plugins.runtime, &plugin.pre, call)
    };
    if w.is_autocommit() {
        // SQLite gave up the transaction (the plugin quota): nothing to release or record.
        return Err(crate::plugins::limits::quota_exceeded());
    }
    match outcome {
        Ok(()) => {
            w.execute("RELEASE reaction", [])?;
            Ok(Ok(()))
        }
        Err(e) => {
            w.execute_batch("ROLLBACK TO reaction; RELEASE reaction")?;
            Ok(Err(match e {
                CallError::Timeout => "timed out".to_owned(),
                CallError::Failed(why) => why,
                CallError::Asked(_) => {
                    "asked the AI provider or a surface outside a route call".to_owned()
                }
            }))
        }
    }
}
