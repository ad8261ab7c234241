//! Enrollments: a host user in a course, one at a time or a whole cohort (a host group) at
//! once; suspended or cancelled, never purged, so progress survives; completed when the
//! course's rule is met.

use mobieus_sdk::prelude::*;

use crate::courses::{self, Course, CourseStatus};
use crate::{attempts, certificates};

pub const MIGRATION: &str = "
    CREATE TABLE learn_enrollments (
        id           TEXT PRIMARY KEY,
        course_id    TEXT NOT NULL,
        user_id      TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'completed', 'cancelled')),
        cohort_id    TEXT,
        registration TEXT NOT NULL,
        score        REAL,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        completed_at TEXT,
        cancelled_at TEXT,
        UNIQUE (course_id, user_id)
    );
    CREATE INDEX learn_enrollments_user ON learn_enrollments (user_id, id);
    CREATE INDEX learn_enrollments_status ON learn_enrollments (status, id);";

const TABLE: &str = "learn_enrollments";
pub const NO_ENROLLMENT: &str = "No enrollment has this id.";
const BAD_STATE: &str = "The enrollment's state does not allow this: active ⇄ suspended, active | suspended → cancelled → active (resume), active → completed (by the completion rule).";

#[derive(Serialize, Deserialize, JsonSchema, Clone)]
pub struct Enrollment {
    #[schemars(regex(pattern = "^enr_[0-9A-Z]{26}$"))]
    pub id: String,
    pub course_id: String,
    /// The learner, a host user (usr_…).
    pub user_id: String,
    pub status: EnrollmentStatus,
    /// The cohort (a host group, grp_…) it was granted through, if any.
    pub cohort_id: Option<String>,
    /// A UUID for this learner in this course: the xAPI/cmi5 `registration`.
    pub registration: String,
    /// The mean of the best scores of the required scored activities, once completed.
    pub score: Option<f64>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub updated_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub completed_at: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub cancelled_at: Option<String>,
}

impl HasId for Enrollment {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum EnrollmentStatus {
    Active,
    Suspended,
    Completed,
    Cancelled,
}

impl EnrollmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EnrollmentStatus::Active => "active",
            EnrollmentStatus::Suspended => "suspended",
            EnrollmentStatus::Completed => "completed",
            EnrollmentStatus::Cancelled => "cancelled",
        }
    }
}

fn bad_state(status: EnrollmentStatus) -> Error {
    Error::conflict("invalid_enrollment_state", BAD_STATE).with("status", status.as_str())
}

#[derive(Serialize, JsonSchema)]
pub struct EnrollmentEvent<'a> {
    pub enrollment: &'a Enrollment,
}

pub fn find(cx: &Ctx, id: &str) -> Result<Enrollment> {
    cx.db()
        .select_one(TABLE, "WHERE id = ?1", &[&id])?
        .ok_or_else(|| Error::new(404, "enrollment_not_found", NO_ENROLLMENT))
}

pub fn list(cx: &mut Ctx) -> Result<Page<Enrollment>> {
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("created_at");
    filter.and_opt("course_id = ?", page.filter("course_id"));
    filter.and_opt("user_id = ?", page.filter("user_id"));
    filter.and_opt("cohort_id = ?", page.filter("cohort_id"));
    filter.and_opt("status = ?", page.filter_one_of("status", &["active", "suspended", "completed", "cancelled"])?);
    page.fetch_as(&cx.db(), TABLE, &filter)
}

pub fn get(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<Enrollment>> {
    find(cx, &id).map(Json)
}

/// Enrollments are taken only by a published course.
fn open_course(cx: &Ctx, course_id: &str) -> Result<Course> {
    let course = courses::find(cx, course_id)?;
    if course.status != CourseStatus::Published {
        return Err(Error::conflict("course_not_published", "Only a published course takes enrollments (a draft is not ready; an archived one is closed).")
            .with("status", course.status.as_str()));
    }
    Ok(course)
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewEnrollment {
    /// A published course (crs_…).
    #[garde(skip)]
    course_id: String,
    /// A host user who may act (usr_…).
    #[garde(skip)]
    user_id: String,
}

pub fn create(cx: &mut Ctx, Json(new): Json<NewEnrollment>) -> Result<Created<Enrollment>> {
    let course = open_course(cx, &new.course_id).map_err(|e| if e.status == 404 { Error::validation("course_id", "no such course") } else { e })?;
    cx.require_user("user_id", &new.user_id)?;
    if let Some(existing) = existing(cx, &course.id, &new.user_id)? {
        return Err(Error::conflict("already_enrolled", "This user is already enrolled in this course; a cancelled or suspended enrollment is resumed with POST /enrollments/{id}/resume.")
            .with("enrollment_id", existing.id)
            .with("status", existing.status.as_str()));
    }
    let enrollment = insert(cx, &course.id, &new.user_id, None)?;
    Ok(Created(enrollment))
}

fn existing(cx: &Ctx, course_id: &str, user_id: &str) -> Result<Option<Enrollment>> {
    cx.db().select_one(TABLE, "WHERE course_id = ?1 AND user_id = ?2", &[&course_id, &user_id])
}

fn insert(cx: &Ctx, course_id: &str, user_id: &str, cohort_id: Option<&str>) -> Result<Enrollment> {
    let now = cx.now();
    let enrollment = Enrollment {
        id: cx.new_id("enr_"),
        course_id: course_id.to_owned(),
        user_id: user_id.to_owned(),
        status: EnrollmentStatus::Active,
        cohort_id: cohort_id.map(str::to_owned),
        registration: uuid_v4(cx),
        score: None,
        created_at: now.clone(),
        updated_at: now,
        completed_at: None,
        cancelled_at: None,
    };
    cx.db().insert(TABLE, &enrollment)?;
    cx.emit("enrollment.created", &EnrollmentEvent { enrollment: &enrollment })?;
    Ok(enrollment)
}

/// A random (version 4) UUID from the host's random source.
pub fn uuid_v4(cx: &Ctx) -> String {
    let mut b = cx.random_bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

fn set_status(cx: &Ctx, mut enrollment: Enrollment, to: EnrollmentStatus) -> Result<Enrollment> {
    let now = cx.now();
    enrollment.status = to;
    enrollment.updated_at = now.clone();
    match to {
        EnrollmentStatus::Cancelled => enrollment.cancelled_at = Some(now),
        EnrollmentStatus::Completed => enrollment.completed_at = Some(now),
        _ => {}
    }
    cx.db().execute(
        "UPDATE learn_enrollments SET status = ?1, updated_at = ?2, cancelled_at = ?3, completed_at = ?4, score = ?5 WHERE id = ?6",
        &[&to.as_str(), &enrollment.updated_at, &enrollment.cancelled_at, &enrollment.completed_at, &enrollment.score, &enrollment.id],
    )?;
    Ok(enrollment)
}

pub fn cancel(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<Enrollment>> {
    let enrollment = find(cx, &id)?;
    match enrollment.status {
        EnrollmentStatus::Active | EnrollmentStatus::Suspended => set_status(cx, enrollment, EnrollmentStatus::Cancelled).map(Json),
        other => Err(bad_state(other)),
    }
}

pub fn suspend(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<Enrollment>> {
    let enrollment = find(cx, &id)?;
    match enrollment.status {
        EnrollmentStatus::Active => set_status(cx, enrollment, EnrollmentStatus::Suspended).map(Json),
        other => Err(bad_state(other)),
    }
}

/// Back to active with its attempts as they were; the course must still take enrollments.
pub fn resume(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<Enrollment>> {
    let enrollment = find(cx, &id)?;
    match enrollment.status {
        EnrollmentStatus::Suspended | EnrollmentStatus::Cancelled => {
            open_course(cx, &enrollment.course_id)?;
            let mut enrollment = set_status(cx, enrollment, EnrollmentStatus::Active)?;
            // Work done before the pause may already meet the rule.
            evaluate(cx, &mut enrollment)?;
            Ok(Json(enrollment))
        }
        other => Err(bad_state(other)),
    }
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// The cohort: a host group (grp_…).
    #[garde(skip)]
    cohort_id: String,
    /// A published course (crs_…).
    #[garde(skip)]
    course_id: String,
}

/// What a grant did: each member is in exactly one of the three.
#[derive(Serialize, JsonSchema)]
pub struct Granted {
    /// Enrollments created now (or cancelled ones resumed).
    pub created: Vec<Enrollment>,
    /// Members who already had an active, suspended or completed enrollment (ids).
    pub already_enrolled: Vec<String>,
    pub failed: Vec<GrantFailure>,
}

#[derive(Serialize, JsonSchema)]
pub struct GrantFailure {
    pub user_id: String,
    /// `user_inactive`: the member left or was deactivated.
    pub reason: String,
}

/// Enrolls every member of a cohort; run it again and it changes nothing.
pub fn grant(cx: &mut Ctx, Json(grant): Json<Grant>) -> Result<Json<Granted>> {
    let course = open_course(cx, &grant.course_id).map_err(|e| if e.status == 404 { Error::validation("course_id", "no such course") } else { e })?;
    let members = cx
        .group_members(&grant.cohort_id)?
        .ok_or_else(|| Error::new(404, "cohort_not_found", "No host group has this id."))?;
    let mut out = Granted { created: vec![], already_enrolled: vec![], failed: vec![] };
    for chunk in members.chunks(100) {
        let active: Vec<String> = cx.users(chunk)?.into_iter().map(|u| u.id).collect();
        for user_id in chunk {
            if !active.contains(user_id) {
                out.failed.push(GrantFailure { user_id: user_id.clone(), reason: "user_inactive".into() });
                continue;
            }
            match existing(cx, &course.id, user_id)? {
                Some(e) if e.status == EnrollmentStatus::Cancelled => {
                    let mut e = set_status(cx, e, EnrollmentStatus::Active)?;
                    evaluate(cx, &mut e)?;
                    out.created.push(e);
                }
                Some(e) => out.already_enrolled.push(e.id),
                None => out.created.push(insert(cx, &course.id, user_id, Some(&grant.cohort_id))?),
            }
        }
    }
    Ok(Json(out))
}

#[derive(Serialize, JsonSchema)]
pub struct CompletedEvent<'a> {
    pub enrollment: &'a Enrollment,
    /// The certificate minted on completion, when the course has a template (cer_…).
    pub certificate_id: Option<String>,
}

/// Completes an active enrollment whose course's rule is now met: `enrollment.completed`, its
/// xAPI statement, and a certificate when the course has a template.
pub fn evaluate(cx: &Ctx, enrollment: &mut Enrollment) -> Result<()> {
    if enrollment.status != EnrollmentStatus::Active {
        return Ok(());
    }
    let course = courses::find(cx, &enrollment.course_id)?;
    let required = courses::required_activities(cx, &course.id)?;
    if required.is_empty() {
        return Ok(());
    }
    let mut scores = vec![];
    for activity in &required {
        match attempts::best(cx, &enrollment.id, &activity.id)? {
            Some(best) if best.satisfied => scores.extend(best.score),
            _ => return Ok(()),
        }
    }
    let mean = (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64);
    if let Some(min) = course.min_score
        && mean.unwrap_or(0.0) < min
    {
        return Ok(());
    }
    enrollment.score = mean;
    *enrollment = set_status(cx, enrollment.clone(), EnrollmentStatus::Completed)?;
    let certificate_id = match &course.certificate_template_id {
        Some(template) => Some(certificates::mint(cx, enrollment, &course, template)?.id),
        None => None,
    };
    crate::xapi::progress::enrollment_completed(cx, enrollment, &course)?;
    cx.emit("enrollment.completed", &CompletedEvent { enrollment, certificate_id })?;
    Ok(())
}
