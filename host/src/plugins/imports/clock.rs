//! `clock`: the wall clock.

use crate::plugins::bindings::clock;
use crate::plugins::state::PluginState;

impl clock::Host for PluginState {
    fn now_ms(&mut self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}
