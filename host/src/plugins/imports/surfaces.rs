//! `surfaces`: GET another surface's or the host's route as the caller ([`crate::plugins::surfaces`]).

use crate::plugins::bindings::surfaces;
use crate::plugins::bindings::types::{self, Error};
use crate::plugins::capabilities::Capability;
use crate::plugins::state::PluginState;

impl surfaces::Host for PluginState {
    fn get(&mut self, path_and_query: String) -> Result<types::Response, Error> {
        self.call.capabilities.require(Capability::Surfaces)?;
        let asker = self.call.asker.as_ref().ok_or_else(|| {
            Error::Denied(
                "surfaces can be called from a GET route only: a write call holds the tenant's writer"
                    .into(),
            )
        })?;
        asker.get(&path_and_query, self.max_result)
    }
}
