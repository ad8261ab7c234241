//! `mail`: queue a message in the host's outbox, in the call's transaction (a call that fails
//! sends nothing); [`crate::mail`] delivers it.

use crate::domain::users;
use crate::mail::outbox::{self, NewAttachment, NewMail};
use crate::plugins::bindings::mail;
use crate::plugins::bindings::types::Error;
use crate::plugins::capabilities::Capability;
use crate::plugins::state::PluginState;

impl mail::Host for PluginState {
    fn send(&mut self, message: mail::Message) -> Result<String, Error> {
        self.call.capabilities.require(Capability::Mail)?;
        let mut to = Vec::with_capacity(message.to.len());
        for recipient in message.to {
            to.push(match recipient {
                mail::Recipient::Address(address) => address,
                mail::Recipient::User(id) => {
                    let user = self
                        .as_host(|conn| users::find_active(conn, &id))?
                        .ok_or_else(|| Error::Invalid(format!("no user `{id}`")))?;
                    let email = user.email.ok_or_else(|| {
                        Error::Invalid(format!("user `{id}` has no email address"))
                    })?;
                    match user.display_name {
                        Some(name) => format!("\"{}\" <{email}>", name.replace(['"', '\\'], "")),
                        None => email,
                    }
                }
            });
        }
        let new = NewMail {
            to,
            subject: message.subject,
            text: message.text,
            html: message.html,
            attachments: message
                .attachments
                .into_iter()
                .map(|a| NewAttachment {
                    filename: a.filename,
                    content_type: a.content_type,
                    content: a.content,
                })
                .collect(),
        };
        outbox::check(&new).map_err(Error::Invalid)?;
        let plugin = self.call.plugin.clone();
        self.as_host_write(
            "mail can be sent only by calls that write (not a GET)",
            |w| outbox::queue(w, &plugin, &new),
        )
    }
}
