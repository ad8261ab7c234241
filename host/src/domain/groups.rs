//! Groups of users: made by the API (and by SCIM, the same groups), read by plugins through the
//! users capability. A name is one group's, whatever its case. `group.created`, `group.updated`,
//! `group.deleted` carry the group; `group.member_added` / `group.member_removed` the group id and
//! the user id. A user who leaves leaves every group (a trigger; `user.left` says it).

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Deserializer, Serialize};
use tenants::db::Write;
use utoipa::ToSchema;

use crate::domain::{users, validate};
use crate::error::{ApiError, Result};
use crate::event_log::{
    self, GROUP_CREATED, GROUP_DELETED, GROUP_MEMBER_ADDED, GROUP_MEMBER_REMOVED, GROUP_UPDATED,
};
use crate::paging::ListQuery;
use crate::time::{to_rfc3339, ulid_time};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub member_count: u64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Member {
    pub user_id: String,
    pub username: String,
    pub display_name: Option<String>,
    pub added_at: String,
}

const NAME_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 2_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    pub display_name: String,
    pub description: Option<String>,
}

impl NewGroup {
    pub fn validate(&self) -> Result<()> {
        validate::text("display_name", &self.display_name, 1, NAME_MAX, false)?;
        if let Some(d) = &self.description {
            validate::text("description", d, 1, DESCRIPTION_MAX, true)?;
        }
        Ok(())
    }
}

/// A partial update: absent fields stay; `"description": null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

impl GroupPatch {
    pub fn validate(&self) -> Result<()> {
        if self.display_name.is_none() && self.description.is_none() {
            return Err(ApiError::validation(
                "body",
                "nothing to change: send `display_name` and/or `description`",
            ));
        }
        if let Some(name) = &self.display_name {
            validate::text("display_name", name, 1, NAME_MAX, false)?;
        }
        if let Some(Some(d)) = &self.description {
            validate::text("description", d, 1, DESCRIPTION_MAX, true)?;
        }
        Ok(())
    }
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// `usr_…`, an active user.
    pub user_id: String,
}

const COLUMNS: &str = "id, display_name, description, created_at, updated_at, \
    (SELECT COUNT(*) FROM group_members m WHERE m.group_id = groups.id)";

pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Group> {
    Ok(Group {
        id: row.get(0)?,
        display_name: row.get(1)?,
        description: row.get(2)?,
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
        member_count: row.get::<_, i64>(5)?.max(0) as u64,
    })
}

pub fn find(conn: &Connection, id: &str) -> rusqlite::Result<Option<Group>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM groups WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()
}

/// Groups newest first, a page at a time (map rows with [`from_row`]).
pub fn list_query() -> ListQuery<'static> {
    ListQuery {
        table: "groups",
        id_prefix: "grp_",
        columns: COLUMNS,
        conditions: vec![],
        params: vec![],
        counters: None,
    }
}

const MEMBER_COLUMNS: &str = "id, user_id, username, display_name, added_at";

pub fn member_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Member> {
    Ok(Member {
        user_id: row.get(1)?,
        username: row.get(2)?,
        display_name: row.get(3)?,
        added_at: row.get(4)?,
    })
}

/// A group's members, the latest added first (map rows with [`member_from_row`]).
pub fn members_query(group_id: &str) -> ListQuery<'static> {
    ListQuery {
        table: "group_member_rows",
        id_prefix: "gm_",
        columns: MEMBER_COLUMNS,
        conditions: vec!["group_id = ?".into()],
        params: vec![Value::Text(group_id.to_owned())],
        counters: None,
    }
}

/// Up to `limit` member user ids of a group in id order, after `after`; `None` if there is no
/// such group. For plugins, which page through them.
pub fn member_ids(
    conn: &Connection,
    group_id: &str,
    after: Option<&str>,
    limit: u32,
) -> rusqlite::Result<Option<Vec<String>>> {
    let exists: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM groups WHERE id = ?1)")?
        .query_row([group_id], |r| r.get(0))?;
    if !exists {
        return Ok(None);
    }
    let ids = conn
        .prepare_cached(
            "SELECT user_id FROM group_members WHERE group_id = ?1 AND user_id > ?2
             ORDER BY user_id LIMIT ?3",
        )?
        .query_map(params![group_id, after.unwrap_or(""), limit], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(ids))
}

fn name_taken(conn: &Connection, name: &str, other_than: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM groups WHERE display_name = ?1 COLLATE NOCASE AND id <> ?2)",
    )?
    .query_row([name, other_than], |r| r.get(0))
}

fn taken(name: &str) -> ApiError {
    ApiError::conflict(
        "group_name_taken",
        format!("A group is already named `{name}` (names are compared without case)."),
    )
}

/// Creates a validated group and appends `group.created`; 409 `group_name_taken`.
pub fn create(w: &mut Write<'_>, new: NewGroup) -> Result<Group> {
    if name_taken(w, &new.display_name, "")? {
        return Err(taken(&new.display_name));
    }
    let ulid = w.new_ulid();
    let at = to_rfc3339(&ulid_time(ulid));
    let group = Group {
        id: format!("grp_{ulid}"),
        display_name: new.display_name,
        description: new.description,
        member_count: 0,
        created_at: at.clone(),
        updated_at: at,
    };
    w.execute(
        "INSERT INTO groups (id, display_name, description, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            group.id,
            group.display_name,
            group.description,
            group.created_at,
            group.updated_at
        ],
    )?;
    event_log::append(w, GROUP_CREATED, &serde_json::json!({ "group": &group }))?;
    Ok(group)
}

/// Applies a validated patch and appends `group.updated`; 404 `group_not_found`.
pub fn update(w: &mut Write<'_>, id: &str, change: GroupPatch) -> Result<Group> {
    let mut group = find(w, id)?.ok_or_else(|| ApiError::not_found("group"))?;
    if let Some(name) = change.display_name {
        if name_taken(w, &name, id)? {
            return Err(taken(&name));
        }
        group.display_name = name;
    }
    if let Some(description) = change.description {
        group.description = description;
    }
    group.updated_at = to_rfc3339(&chrono::Utc::now());
    w.execute(
        "UPDATE groups SET display_name = ?2, description = ?3, updated_at = ?4,
         version = version + 1 WHERE id = ?1",
        params![
            group.id,
            group.display_name,
            group.description,
            group.updated_at
        ],
    )?;
    event_log::append(w, GROUP_UPDATED, &serde_json::json!({ "group": &group }))?;
    Ok(group)
}

/// Deletes a group (its memberships with it) and appends `group.deleted`.
pub fn delete(w: &mut Write<'_>, id: &str) -> Result<()> {
    let group = find(w, id)?.ok_or_else(|| ApiError::not_found("group"))?;
    w.execute("DELETE FROM groups WHERE id = ?1", [id])?;
    event_log::append(w, GROUP_DELETED, &serde_json::json!({ "group": &group }))?;
    Ok(())
}

/// Adds an active user to a group and appends `group.member_added`; already a member, the
/// membership as it was (no event). 404 `group_not_found`, 400 for a user who is not active.
pub fn add_member(w: &mut Write<'_>, group_id: &str, user_id: &str) -> Result<(Member, bool)> {
    if find(w, group_id)?.is_none() {
        return Err(ApiError::not_found("group"));
    }
    if users::find_active(w, user_id)?.is_none() {
        return Err(ApiError::validation("user_id", "no such user"));
    }
    if let Some(member) = member(w, group_id, user_id)? {
        return Ok((member, false));
    }
    let ulid = w.new_ulid();
    w.execute(
        "INSERT INTO group_members (id, group_id, user_id, added_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            format!("gm_{ulid}"),
            group_id,
            user_id,
            to_rfc3339(&ulid_time(ulid))
        ],
    )?;
    touch(w, group_id)?;
    event_log::append(
        w,
        GROUP_MEMBER_ADDED,
        &serde_json::json!({ "group_id": group_id, "user_id": user_id }),
    )?;
    let member = member(w, group_id, user_id)?.ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!("a membership just added is not there"))
    })?;
    Ok((member, true))
}

/// Removes a member and appends `group.member_removed`; 404 `group_not_found` or
/// `member_not_found`.
pub fn remove_member(w: &mut Write<'_>, group_id: &str, user_id: &str) -> Result<()> {
    if find(w, group_id)?.is_none() {
        return Err(ApiError::not_found("group"));
    }
    let removed = w.execute(
        "DELETE FROM group_members WHERE group_id = ?1 AND user_id = ?2",
        [group_id, user_id],
    )?;
    if removed == 0 {
        return Err(ApiError::not_found("member"));
    }
    touch(w, group_id)?;
    event_log::append(
        w,
        GROUP_MEMBER_REMOVED,
        &serde_json::json!({ "group_id": group_id, "user_id": user_id }),
    )?;
    Ok(())
}

fn member(conn: &Connection, group_id: &str, user_id: &str) -> rusqlite::Result<Option<Member>> {
    conn.prepare_cached(&format!(
        "SELECT {MEMBER_COLUMNS} FROM group_member_rows WHERE group_id = ?1 AND user_id = ?2"
    ))?
    .query_row([group_id, user_id], member_from_row)
    .optional()
}

/// A membership changed: the group's version and `updated_at` move (its SCIM `ETag` with them).
fn touch(w: &Write<'_>, group_id: &str) -> rusqlite::Result<()> {
    w.prepare_cached("UPDATE groups SET version = version + 1, updated_at = ?2 WHERE id = ?1")?
        .execute(params![group_id, to_rfc3339(&chrono::Utc::now())])?;
    Ok(())
}

/// A group as an identity provider keeps it: its name, its id in the provider, every member.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub group: Group,
    pub external_id: Option<String>,
    pub version: i64,
}

/// The group with its external id and version; `None` if there is no such group.
pub fn find_provisioned(conn: &Connection, id: &str) -> rusqlite::Result<Option<Provisioned>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, external_id, version FROM groups WHERE id = ?1"
    ))?
    .query_row([id], provisioned_from_row)
    .optional()
}

pub fn provisioned_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Provisioned> {
    Ok(Provisioned {
        group: from_row(row)?,
        external_id: row.get(6)?,
        version: row.get(7)?,
    })
}

/// The SELECT of provisioned groups, for callers that add their own conditions (`WHERE 1`).
pub fn provisioned_select() -> String {
    format!("SELECT {COLUMNS}, external_id, version FROM groups WHERE 1")
}

/// Every member of a group as `(user id, display)`, in the order they were added.
pub fn all_members(conn: &Connection, group_id: &str) -> rusqlite::Result<Vec<(String, String)>> {
    conn.prepare_cached(
        "SELECT user_id, COALESCE(display_name, username) FROM group_member_rows
         WHERE group_id = ?1 ORDER BY id",
    )?
    .query_map([group_id], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

/// Creates a group with its external id and members (`group.created`, then a
/// `group.member_added` each); 409 `group_name_taken`, 400 for a member who is not a user.
pub fn provision(
    w: &mut Write<'_>,
    display_name: String,
    external_id: Option<String>,
    members: &[String],
) -> Result<Provisioned> {
    check_members(w, members)?;
    let group = create(
        w,
        NewGroup {
            display_name,
            description: None,
        },
    )?;
    w.execute(
        "UPDATE groups SET external_id = ?2 WHERE id = ?1",
        params![group.id, external_id],
    )?;
    set_members(w, &group.id, members)?;
    find_provisioned(w, &group.id)?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a group just added is not there")))
}

/// Renames a group, sets its external id and, when given, its whole member set: the events say
/// what changed (`group.updated` for the name, one `group.member_added` / `_removed` per member).
pub fn reprovision(
    w: &mut Write<'_>,
    id: &str,
    display_name: String,
    external_id: Option<String>,
    members: Option<&[String]>,
) -> Result<Provisioned> {
    let current = find_provisioned(w, id)?.ok_or_else(|| ApiError::not_found("group"))?;
    if let Some(members) = members {
        check_members(w, members)?;
    }
    if current.group.display_name != display_name {
        update(
            w,
            id,
            GroupPatch {
                display_name: Some(display_name),
                description: None,
            },
        )?;
    }
    if current.external_id != external_id {
        w.execute(
            "UPDATE groups SET external_id = ?2, version = version + 1 WHERE id = ?1",
            params![id, external_id],
        )?;
    }
    if let Some(members) = members {
        set_members(w, id, members)?;
    }
    find_provisioned(w, id)?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a group just updated is not there")))
}

fn check_members(conn: &Connection, members: &[String]) -> Result<()> {
    for user_id in members {
        if users::find_active(conn, user_id)?.is_none() {
            return Err(ApiError::validation(
                "members",
                format!("`{user_id}` is not a user of this community"),
            ));
        }
    }
    Ok(())
}

/// Makes `members` the group's member set, one event per member added or removed.
fn set_members(w: &mut Write<'_>, group_id: &str, members: &[String]) -> Result<()> {
    let wanted: std::collections::BTreeSet<&str> = members.iter().map(String::as_str).collect();
    let current: Vec<String> = all_members(w, group_id)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for user_id in &current {
        if !wanted.contains(user_id.as_str()) {
            remove_member(w, group_id, user_id)?;
        }
    }
    let current: std::collections::BTreeSet<&str> = current.iter().map(String::as_str).collect();
    for user_id in members {
        if !current.contains(user_id.as_str()) {
            add_member(w, group_id, user_id)?;
        }
    }
    Ok(())
}

/// The groups a user belongs to as `(group id, name)`, by name.
pub fn groups_of(conn: &Connection, user_id: &str) -> rusqlite::Result<Vec<(String, String)>> {
    conn.prepare_cached(
        "SELECT g.id, g.display_name FROM group_members m JOIN groups g ON g.id = m.group_id
         WHERE m.user_id = ?1 ORDER BY g.display_name",
    )?
    .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}
