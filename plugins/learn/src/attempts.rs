//! Attempts: a learner's try at an activity, with answers, a score and, for SCORM, the CMI data
//! the package's runtime commits. Submitting one may complete the enrollment.

use std::collections::BTreeMap;

use mobieus_sdk::prelude::*;

use crate::courses::{self, Activity, Kind};
use crate::enrollments::{self, EnrollmentStatus};
use crate::scorm;

pub const MIGRATION: &str = "
    CREATE TABLE learn_attempts (
        id            TEXT PRIMARY KEY,
        activity_id   TEXT NOT NULL,
        enrollment_id TEXT NOT NULL,
        course_id     TEXT NOT NULL,
        user_id       TEXT NOT NULL,
        kind          TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('in_progress', 'submitted')),
        answers       TEXT,
        response      TEXT,
        cmi           TEXT,
        score         REAL,
        satisfied     INTEGER NOT NULL DEFAULT 0,
        started_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        submitted_at  TEXT
    );
    CREATE INDEX learn_attempts_enrollment ON learn_attempts (enrollment_id, activity_id);
    CREATE INDEX learn_attempts_activity ON learn_attempts (activity_id, id);";

const TABLE: &str = "learn_attempts";
/// CMI data: keys as the SCORM runtime names them, values as it sets them (strings).
pub type Cmi = BTreeMap<String, String>;
const MAX_CMI_KEYS: usize = 2_000;
const MAX_CMI_VALUE: usize = 1_000_000;
const MAX_CMI_TOTAL: usize = 4_000_000;

#[derive(Serialize, Deserialize, JsonSchema, Clone)]
pub struct Attempt {
    #[schemars(regex(pattern = "^att_[0-9A-Z]{26}$"))]
    pub id: String,
    pub activity_id: String,
    pub enrollment_id: String,
    pub course_id: String,
    pub user_id: String,
    pub kind: Kind,
    pub status: AttemptStatus,
    /// A quiz's answers: the index of the chosen choice, per question.
    pub answers: Option<Vec<usize>>,
    /// An assignment's submission.
    pub response: Option<String>,
    /// A SCORM attempt's CMI data (SCORM 1.2 `cmi.core.*`, 2004 `cmi.*`), as committed.
    pub cmi: Option<Cmi>,
    /// 0–100.
    pub score: Option<f64>,
    /// Whether it counts towards completion: submitted and passed.
    pub satisfied: bool,
    #[schemars(extend("format" = "date-time"))]
    pub started_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub updated_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub submitted_at: Option<String>,
}

impl HasId for Attempt {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    InProgress,
    Submitted,
}

fn find(cx: &Ctx, id: &str) -> Result<Attempt> {
    cx.db().select_one(TABLE, "WHERE id = ?1", &[&id])?.ok_or_else(|| Error::not_found("attempt"))
}

/// The enrollment's best submitted attempt at an activity: satisfied first, then by score.
pub fn best(cx: &Ctx, enrollment_id: &str, activity_id: &str) -> Result<Option<Attempt>> {
    cx.db().select_one(
        TABLE,
        "WHERE enrollment_id = ?1 AND activity_id = ?2 AND status = 'submitted' ORDER BY satisfied DESC, coalesce(score, -1) DESC LIMIT 1",
        &[&enrollment_id, &activity_id],
    )
}

pub fn list(cx: &mut Ctx) -> Result<Page<Attempt>> {
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("started_at");
    filter.and_opt("enrollment_id = ?", page.filter("enrollment_id"));
    filter.and_opt("activity_id = ?", page.filter("activity_id"));
    filter.and_opt("course_id = ?", page.filter("course_id"));
    filter.and_opt("user_id = ?", page.filter("user_id"));
    filter.and_opt("status = ?", page.filter_one_of("status", &["in_progress", "submitted"])?);
    page.fetch_as(&cx.db(), TABLE, &filter)
}

pub fn get(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<Attempt>> {
    find(cx, &id).map(Json)
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewAttempt {
    /// The learner's active enrollment in the activity's course (enr_…).
    #[garde(skip)]
    enrollment_id: String,
    /// A SCORM attempt's initial CMI data.
    #[garde(skip)]
    cmi: Option<Cmi>,
}

pub fn start(cx: &mut Ctx, Path(activity_id): Path<String>, Json(new): Json<NewAttempt>) -> Result<Created<Attempt>> {
    let activity = courses::find_activity(cx, &activity_id)?;
    let enrollment = enrollments::find(cx, &new.enrollment_id).map_err(|_| Error::validation("enrollment_id", "no such enrollment"))?;
    if enrollment.course_id != activity.course_id {
        return Err(Error::validation("enrollment_id", "an enrollment in another course"));
    }
    if !matches!(enrollment.status, EnrollmentStatus::Active | EnrollmentStatus::Completed) {
        return Err(Error::conflict("enrollment_not_active", "Only an active (or completed) enrollment makes attempts; resume it first.")
            .with("status", enrollment.status.as_str()));
    }
    let cmi = match (activity.kind, new.cmi) {
        (Kind::Scorm, cmi) => Some(check_cmi(cmi.unwrap_or_default())?),
        (_, Some(_)) => return Err(Error::validation("cmi", "only a SCORM attempt has CMI data")),
        (_, None) => None,
    };
    let now = cx.now();
    let attempt = Attempt {
        id: cx.new_id("att_"),
        activity_id: activity.id,
        enrollment_id: enrollment.id,
        course_id: enrollment.course_id,
        user_id: enrollment.user_id,
        kind: activity.kind,
        status: AttemptStatus::InProgress,
        answers: None,
        response: None,
        cmi,
        score: None,
        satisfied: false,
        started_at: now.clone(),
        updated_at: now,
        submitted_at: None,
    };
    cx.db().insert(TABLE, &attempt)?;
    Ok(Created(attempt))
}

fn check_cmi(cmi: Cmi) -> Result<Cmi> {
    if cmi.len() > MAX_CMI_KEYS {
        return Err(Error::validation("cmi", format!("at most {MAX_CMI_KEYS} elements")));
    }
    let mut total = 0;
    for (key, value) in &cmi {
        if !key.starts_with("cmi.") || key.len() > 255 || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::validation("cmi", format!("`{key}` is not a CMI element name (cmi.…)")));
        }
        if value.len() > MAX_CMI_VALUE {
            return Err(Error::validation("cmi", format!("`{key}` is longer than {MAX_CMI_VALUE} bytes")));
        }
        total += key.len() + value.len();
    }
    if total > MAX_CMI_TOTAL {
        return Err(Error::validation("cmi", format!("more than {MAX_CMI_TOTAL} bytes in all")));
    }
    Ok(cmi)
}

/// Progress saved before submitting; what is given replaces what the attempt had.
#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schemars(extend("minProperties" = 1))]
pub struct Progress {
    /// A quiz's answers so far.
    #[garde(length(max = 100))]
    answers: Option<Vec<usize>>,
    /// An assignment's draft.
    #[garde(length(chars, max = 50_000))]
    response: Option<String>,
    /// A SCORM runtime's commit (`LMSCommit` / `Commit`): these CMI elements are set, the
    /// others keep their values.
    #[garde(skip)]
    cmi: Option<Cmi>,
}

/// Saves an attempt's progress: a quiz's answers, an assignment's draft, a SCORM commit.
pub fn save(cx: &mut Ctx, Path(id): Path<String>, Json(progress): Json<Progress>) -> Result<Json<Attempt>> {
    let mut attempt = open(cx, &id)?;
    let wrong = |field: &str, kind: &str| Err(Error::validation(field, format!("only a {kind} attempt has it")));
    if progress.answers.is_some() && attempt.kind != Kind::Quiz {
        return wrong("answers", "quiz");
    }
    if progress.response.is_some() && attempt.kind != Kind::Assignment {
        return wrong("response", "assignment");
    }
    if progress.cmi.is_some() && attempt.kind != Kind::Scorm {
        return wrong("cmi", "SCORM");
    }
    if let Some(answers) = progress.answers {
        attempt.answers = Some(answers);
    }
    if let Some(response) = progress.response {
        attempt.response = Some(response);
    }
    if let Some(commit) = progress.cmi {
        let mut cmi = attempt.cmi.take().unwrap_or_default();
        cmi.extend(commit);
        attempt.cmi = Some(check_cmi(cmi)?);
    }
    attempt.updated_at = cx.now();
    cx.db().execute(
        "UPDATE learn_attempts SET answers = ?1, response = ?2, cmi = ?3, updated_at = ?4 WHERE id = ?5",
        &[
            &attempt.answers.as_ref().map(mobieus_sdk::json::to_string).transpose()?,
            &attempt.response,
            &attempt.cmi.as_ref().map(mobieus_sdk::json::to_string).transpose()?,
            &attempt.updated_at,
            &attempt.id,
        ],
    )?;
    Ok(Json(attempt))
}

fn open(cx: &Ctx, id: &str) -> Result<Attempt> {
    let attempt = find(cx, id)?;
    if attempt.status == AttemptStatus::Submitted {
        return Err(Error::conflict("attempt_submitted", "The attempt was submitted; start a new one."));
    }
    Ok(attempt)
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// A quiz's answers: one choice index per question, in order.
    #[garde(length(max = 100))]
    answers: Option<Vec<usize>>,
    /// An assignment's work.
    #[garde(length(chars, max = 50_000))]
    response: Option<String>,
    /// A grade (0–100) for a page, assignment or live session; a quiz and a SCORM package
    /// score themselves.
    #[garde(range(min = 0.0, max = 100.0))]
    score: Option<f64>,
    /// A SCORM attempt's last CMI data, merged as a commit.
    #[garde(skip)]
    cmi: Option<Cmi>,
}

/// Submits an attempt: scores it, decides whether it satisfies its activity, and completes the
/// enrollment when the course's rule is now met.
pub fn submit(cx: &mut Ctx, Path(id): Path<String>, Json(sub): Json<Submission>) -> Result<Json<Attempt>> {
    let mut attempt = open(cx, &id)?;
    let activity = courses::find_activity(cx, &attempt.activity_id)?;
    let mut enrollment = enrollments::find(cx, &attempt.enrollment_id)?;
    if !matches!(enrollment.status, EnrollmentStatus::Active | EnrollmentStatus::Completed) {
        return Err(Error::conflict("enrollment_not_active", "The enrollment is suspended or cancelled; resume it first.")
            .with("status", enrollment.status.as_str()));
    }
    let (score, satisfied) = match activity.kind {
        Kind::Quiz => {
            let answers = sub.answers.clone().or_else(|| attempt.answers.clone()).ok_or_else(|| Error::validation("answers", "a quiz is submitted with its answers"))?;
            quiz_score(&activity, &answers)?
        }
        Kind::Scorm => {
            if sub.answers.is_some() || sub.score.is_some() {
                return Err(Error::validation("score", "a SCORM package reports its own score in its CMI data"));
            }
            let mut cmi = attempt.cmi.take().unwrap_or_default();
            cmi.extend(sub.cmi.clone().unwrap_or_default());
            let cmi = check_cmi(cmi)?;
            let version = activity.scorm_package_id.as_deref().map(|p| scorm::find(cx, p)).transpose()?.map(|p| p.version);
            let outcome = scorm_outcome(&cmi, version.as_deref() == Some("1.2"));
            attempt.cmi = Some(cmi);
            outcome
        }
        Kind::Page | Kind::Assignment | Kind::LiveSession => {
            if sub.answers.is_some() || sub.cmi.is_some() {
                return Err(Error::validation("answers", "only a quiz has answers and only SCORM has CMI data"));
            }
            (sub.score, true)
        }
    };
    let satisfied = satisfied && match (activity.passing_score, score) {
        (Some(pass), Some(score)) => score >= pass,
        (Some(_), None) => false,
        (None, _) => true,
    };
    let now = cx.now();
    attempt.status = AttemptStatus::Submitted;
    attempt.answers = sub.answers.or(attempt.answers);
    attempt.response = sub.response.or(attempt.response);
    attempt.score = score;
    attempt.satisfied = satisfied;
    attempt.updated_at = now.clone();
    attempt.submitted_at = Some(now);
    cx.db().execute(
        "UPDATE learn_attempts SET status = 'submitted', answers = ?1, response = ?2, cmi = ?3, score = ?4, satisfied = ?5, updated_at = ?6, submitted_at = ?7 WHERE id = ?8",
        &[
            &attempt.answers.as_ref().map(mobieus_sdk::json::to_string).transpose()?,
            &attempt.response,
            &attempt.cmi.as_ref().map(mobieus_sdk::json::to_string).transpose()?,
            &attempt.score,
            &attempt.satisfied,
            &attempt.updated_at,
            &attempt.submitted_at,
            &attempt.id,
        ],
    )?;
    crate::xapi::progress::attempt_submitted(cx, &attempt, &activity, &enrollment)?;
    enrollments::evaluate(cx, &mut enrollment)?;
    Ok(Json(attempt))
}

fn quiz_score(activity: &Activity, answers: &[usize]) -> Result<(Option<f64>, bool)> {
    let questions = activity.questions.as_deref().unwrap_or_default();
    if answers.len() != questions.len() {
        return Err(Error::validation("answers", format!("one answer per question: {} expected", questions.len())));
    }
    let right = questions.iter().zip(answers).filter(|(q, a)| q.answer == **a).count();
    let score = if questions.is_empty() { 100.0 } else { (right as f64 * 1000.0 / questions.len() as f64).round() / 10.0 };
    Ok((Some(score), true))
}

/// What a SCORM package's CMI data says: its score (0–100) and whether it is done and not
/// failed. SCORM 1.2 reports `cmi.core.lesson_status` and `cmi.core.score.raw|min|max`; 2004
/// reports `cmi.completion_status`, `cmi.success_status` and `cmi.score.scaled|raw|min|max`.
pub fn scorm_outcome(cmi: &Cmi, v12: bool) -> (Option<f64>, bool) {
    let num = |k: &str| cmi.get(k).and_then(|v| v.trim().parse::<f64>().ok()).filter(|n| n.is_finite());
    let scaled = |raw: Option<f64>, min: Option<f64>, max: Option<f64>| {
        raw.map(|raw| match max {
            Some(max) if max > min.unwrap_or(0.0) => (raw - min.unwrap_or(0.0)) / (max - min.unwrap_or(0.0)) * 100.0,
            _ => raw,
        })
    };
    let (score, done) = if v12 {
        let status = cmi.get("cmi.core.lesson_status").map(String::as_str).unwrap_or("");
        (
            scaled(num("cmi.core.score.raw"), num("cmi.core.score.min"), num("cmi.core.score.max")),
            matches!(status, "passed" | "completed"),
        )
    } else {
        let completed = cmi.get("cmi.completion_status").map(String::as_str) == Some("completed");
        let failed = cmi.get("cmi.success_status").map(String::as_str) == Some("failed");
        let score = num("cmi.score.scaled").map(|s| s * 100.0).or_else(|| scaled(num("cmi.score.raw"), num("cmi.score.min"), num("cmi.score.max")));
        (score, completed && !failed)
    };
    (score.map(|s| (s.clamp(0.0, 100.0) * 10.0).round() / 10.0), done)
}
