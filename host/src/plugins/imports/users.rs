//! `users`: the host's users and groups, read only. A deactivated user is not found: no one a
//! plugin may act for.

use crate::domain::groups;
use crate::domain::users as host;
use crate::plugins::bindings::types::Error;
use crate::plugins::bindings::users;
use crate::plugins::state::PluginState;

/// The most ids one `get-many` may ask for.
const MAX_IDS: usize = 100;
/// The most member ids one `group-members` page may hold.
const MAX_MEMBERS: u32 = 1000;

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
            .as_host(|conn| host::find_member(conn, &id))?
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
                .map(|id| host::find_member(conn, id))
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        Ok(found.into_iter().flatten().map(to_wit).collect())
    }

    fn group_members(
        &mut self,
        group_id: String,
        after: Option<String>,
        limit: u32,
    ) -> Result<Option<Vec<String>>, Error> {
        if !(1..=MAX_MEMBERS).contains(&limit) {
            return Err(Error::Invalid(format!(
                "limit {limit}: 1 to {MAX_MEMBERS} members a page"
            )));
        }
        self.as_host(|conn| groups::member_ids(conn, &group_id, after.as_deref(), limit))
    }
}
