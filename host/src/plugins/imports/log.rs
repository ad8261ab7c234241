//! `log`: lines in the server's log, named by plugin and request.

use crate::plugins::bindings::log;
use crate::plugins::state::PluginState;

impl log::Host for PluginState {
    fn log(&mut self, level: log::Level, message: String) {
        let message: String = message.chars().take(2000).collect();
        let (plugin, request_id) = (&self.call.plugin, &self.call.request_id);
        match level {
            log::Level::Debug => tracing::debug!(plugin, request_id, "{message}"),
            log::Level::Info => tracing::info!(plugin, request_id, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, request_id, "{message}"),
            log::Level::Error => tracing::error!(plugin, request_id, "{message}"),
        }
    }
}
