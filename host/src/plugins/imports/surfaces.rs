//! `surfaces`: GET another surface's or the host's route as the caller ([`crate::plugins::surfaces`]).
//! From a read the GET runs at once, on the plugin's thread; from a write it is an ask
//! ([`crate::plugins::asks`]): the call stops, the GET runs with the tenant's writer free, and the
//! call runs again with its answer.

use crate::plugins::asks::{Ask, Asked, MAX_ASKS};
use crate::plugins::bindings::surfaces;
use crate::plugins::bindings::types::{self, Error};
use crate::plugins::capabilities::Capability;
use crate::plugins::state::{PluginState, Tx};

impl surfaces::Host for PluginState {
    fn get(&mut self, path_and_query: String) -> wasmtime::Result<Result<types::Response, Error>> {
        if let Err(e) = self.call.capabilities.require(Capability::Surfaces) {
            return Ok(Err(e));
        }
        let Some(asker) = self.call.asker.as_ref() else {
            return Ok(Err(Error::Denied(
                "surfaces can be called from a route call only, not on-event or on-timer".into(),
            )));
        };
        let Tx::Write(_) = self.call.tx else {
            return Ok(asker.get(&path_and_query, self.max_result));
        };
        let answers = self.call.answers.as_ref();
        if let Some(answer) = answers.and_then(|a| a.surface(&path_and_query)) {
            return Ok(answer.clone());
        }
        if answers.is_none_or(|a| a.len() >= MAX_ASKS) {
            return Ok(Err(Error::Denied(format!(
                "a call asks at most {MAX_ASKS} times"
            ))));
        }
        // Stop here: the route GETs it with the writer free and runs the call again.
        if let Err(e) = asker.check(&path_and_query) {
            return Ok(Err(e));
        }
        Err(wasmtime::Error::new(Asked(Box::new(Ask::Surface(
            path_and_query,
        )))))
    }
}
