//! `events`: append a declared event type, in the call's transaction.

use serde_json::value::RawValue;

use crate::admin::bars;
use crate::event_log;
use crate::plugins::bindings::events;
use crate::plugins::bindings::types::Error;
use crate::plugins::state::PluginState;

impl events::Host for PluginState {
    fn emit(&mut self, event_type: String, data: String) -> Result<String, Error> {
        if !self.call.declared_events.contains(&event_type) {
            return Err(Error::Denied(format!(
                "`{event_type}` is not an event type this plugin declares in its manifest"
            )));
        }
        let emits = &mut self.call.emits;
        if data.len() > emits.max_payload {
            return Err(Error::Invalid(format!(
                "the event's data is {} bytes; at most {} are allowed",
                data.len(),
                emits.max_payload
            )));
        }
        if emits.depth > emits.max_depth {
            return Err(Error::Denied(format!(
                "this handler reacts to an event at the end of a chain of {} reactions: it may not emit another",
                emits.max_depth
            )));
        }
        if emits.left == 0 {
            return Err(Error::Denied(
                "this call has emitted as many events as one call may".into(),
            ));
        }
        let depth = emits.depth;
        let payload = RawValue::from_string(data)
            .map_err(|e| Error::Invalid(format!("data is not JSON: {e}")))?;
        // Counted once it is an event that could be appended.
        self.call.emits.left -= 1;
        let (bars, plugin) = (self.call.bars_console, self.call.plugin.clone());
        let event = self.as_host_write(
            "events can be emitted only by requests that write (not GET)",
            |w| {
                let event = event_log::append_at_depth(w, &event_type, &payload, depth)?;
                if bars {
                    bars::on_emitted(w, &plugin, &event_type, payload.get())?;
                }
                Ok::<_, crate::error::ApiError>(event)
            },
        )?;
        Ok(event.id)
    }
}
