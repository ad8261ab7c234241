//! `config`: this tenant's settings and flags for the plugin.

use crate::plugins::bindings::config;
use crate::plugins::state::PluginState;

impl config::Host for PluginState {
    fn get(&mut self, key: String) -> Option<String> {
        self.call.settings.get(&key).cloned()
    }

    fn flag(&mut self, name: String) -> bool {
        self.call
            .settings
            .get(&format!("flag.{name}"))
            .is_some_and(|v| v == "on")
    }
}
