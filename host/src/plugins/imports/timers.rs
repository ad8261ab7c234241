//! `timers`: durable timers in the tenant file, set and cancelled in the call's transaction (so
//! a request that fails sets nothing); [`crate::plugins::timers`] fires them.

use crate::plugins::bindings::timers;
use crate::plugins::bindings::types::Error;
use crate::plugins::capabilities::Capability;
use crate::plugins::state::PluginState;
use crate::plugins::timers as store;

const READ_ONLY: &str = "timers can be set and cancelled only by calls that write (not a GET)";

impl timers::Host for PluginState {
    fn set(&mut self, key: String, at_ms: i64, payload: String) -> Result<(), Error> {
        self.call.capabilities.require(Capability::Timers)?;
        store::check(&key, &payload).map_err(Error::Invalid)?;
        let plugin = self.call.plugin.clone();
        self.as_host_write(READ_ONLY, |w| store::set(w, &plugin, &key, at_ms, &payload))
    }

    fn cancel(&mut self, key: String) -> Result<bool, Error> {
        self.call.capabilities.require(Capability::Timers)?;
        let plugin = self.call.plugin.clone();
        self.as_host_write(READ_ONLY, |w| store::cancel(w, &plugin, &key))
    }
}
