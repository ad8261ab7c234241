//! `users`: the host's users, read only.

use crate::domain::users as host;
use crate::plugins::bindings::types::Error;
use crate::plugins::bindings::users;
use crate::plugins::state::PluginState;

/// The most ids one `get-many` may ask for.
const MAX_IDS: usize = 100;

fn to_wit(u: host::User) -> users::User {
    users::User {
        id: u.id,
        username: u.username,
        display_name: u.display_name,
        email: u.email,
        created_at: u.created_at,
    }
}

impl users::Host for PluginState {
    fn get(&mut self, id: String) -> Result<Option<users::User>, Error> {
        Ok(self
            .as_host(|conn| host::find_active(conn, &id))?
            .map(to_wit))
    }

    fn get_many(&mut self, ids: Vec<String>) -> Result<Vec<users::User>, Error> {
        if ids.len() > MAX_IDS {
            return Err(Error::Invalid(format!(
                "{} ids: at most {MAX_IDS} at once",
                ids.len()
            )));
        }
        let found = self.as_host(|conn| {
            ids.iter()
                .map(|id| host::find_active(conn, id))
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        Ok(found.into_iter().flatten().map(to_wit).collect())
    }
}
