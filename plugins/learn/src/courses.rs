//! Courses and their outline: modules → lessons → activities, the completion rule, and the
//! `draft → published → archived` life of a course.

use mobieus_sdk::check::{not_blank, not_blank_if_given};
use mobieus_sdk::prelude::*;

use crate::{nullable, scorm};

pub const MIGRATION: &str = "
    CREATE TABLE learn_courses (
        id                      TEXT PRIMARY KEY,
        title                   TEXT NOT NULL,
        description             TEXT NOT NULL DEFAULT '',
        status                  TEXT NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
        min_score               REAL,
        certificate_template_id TEXT,
        created_at              TEXT NOT NULL,
        updated_at              TEXT NOT NULL,
        published_at            TEXT,
        archived_at             TEXT
    );
    CREATE INDEX learn_courses_status ON learn_courses (status, id);
    CREATE TABLE learn_modules (
        id         TEXT PRIMARY KEY,
        course_id  TEXT NOT NULL,
        title      TEXT NOT NULL,
        position   INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX learn_modules_course ON learn_modules (course_id, position);
    CREATE TABLE learn_lessons (
        id         TEXT PRIMARY KEY,
        module_id  TEXT NOT NULL,
        course_id  TEXT NOT NULL,
        title      TEXT NOT NULL,
        body       TEXT NOT NULL DEFAULT '',
        position   INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX learn_lessons_module ON learn_lessons (module_id, position);
    CREATE INDEX learn_lessons_course ON learn_lessons (course_id);
    CREATE TABLE learn_activities (
        id               TEXT PRIMARY KEY,
        lesson_id        TEXT NOT NULL,
        course_id        TEXT NOT NULL,
        kind             TEXT NOT NULL CHECK (kind IN ('page', 'quiz', 'assignment', 'scorm', 'live_session')),
        title            TEXT NOT NULL,
        required         INTEGER NOT NULL,
        position         INTEGER NOT NULL,
        passing_score    REAL,
        questions        TEXT,
        scorm_package_id TEXT,
        live_session_id  TEXT,
        created_at       TEXT NOT NULL
    );
    CREATE INDEX learn_activities_lesson ON learn_activities (lesson_id, position);
    CREATE INDEX learn_activities_course ON learn_activities (course_id);";

const MAX_TITLE: usize = 200;
// Within the host's 1 MiB body cap even written as JSON escapes (12 bytes a character).
const MAX_TEXT: usize = 50_000;
pub const NO_COURSE: &str = "No course has this id.";
pub const BAD_STATE: &str = "The course's state does not allow this: draft → published → draft (unpublish), draft | published → archived (final).";

/// A course, as stored and listed; [`CourseDetail`] adds its outline.
#[derive(Serialize, Deserialize, JsonSchema, Clone)]
pub struct Course {
    #[schemars(regex(pattern = "^crs_[0-9A-Z]{26}$"))]
    pub id: String,
    pub title: String,
    pub description: String,
    pub status: CourseStatus,
    /// The completion rule's minimum score (0–100): the mean of the best scores of the
    /// required activities that are scored must reach it. `null`: no minimum.
    pub min_score: Option<f64>,
    /// Certificates are minted from this template when an enrollment completes (ctp_…).
    pub certificate_template_id: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub updated_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub published_at: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub archived_at: Option<String>,
}

impl HasId for Course {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum CourseStatus {
    Draft,
    Published,
    Archived,
}

impl CourseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CourseStatus::Draft => "draft",
            CourseStatus::Published => "published",
            CourseStatus::Archived => "archived",
        }
    }

    fn may_become(self, to: CourseStatus) -> bool {
        use CourseStatus::*;
        matches!((self, to), (Draft, Published) | (Published, Draft) | (Draft | Published, Archived))
    }

    fn allowed(self) -> Vec<&'static str> {
        [CourseStatus::Draft, CourseStatus::Published, CourseStatus::Archived]
            .into_iter()
            .filter(|to| self.may_become(*to))
            .map(CourseStatus::as_str)
            .collect()
    }
}

pub fn bad_state(status: CourseStatus) -> Error {
    Error::conflict("invalid_course_state", BAD_STATE)
        .with("status", status.as_str())
        .with("allowed", status.allowed())
}

/// A course with its outline and completion rule.
#[derive(Serialize, JsonSchema)]
pub struct CourseDetail {
    #[serde(flatten)]
    pub course: Course,
    pub completion: CompletionRule,
    pub modules: Vec<ModuleOutline>,
}

/// When an enrollment completes: every required activity satisfied (a submitted attempt that
/// passed), and the mean of their best scores at least `min_score`. A course that marks no
/// activity required requires them all.
#[derive(Serialize, JsonSchema)]
pub struct CompletionRule {
    pub required_activity_ids: Vec<String>,
    pub min_score: Option<f64>,
}

#[derive(Serialize, JsonSchema)]
pub struct ModuleOutline {
    #[serde(flatten)]
    pub module: Module,
    pub lessons: Vec<LessonOutline>,
}

#[derive(Serialize, JsonSchema)]
pub struct LessonOutline {
    #[serde(flatten)]
    pub lesson: Lesson,
    pub activities: Vec<Activity>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone)]
pub struct Module {
    #[schemars(regex(pattern = "^mod_[0-9A-Z]{26}$"))]
    pub id: String,
    pub course_id: String,
    pub title: String,
    pub position: i64,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone)]
pub struct Lesson {
    #[schemars(regex(pattern = "^les_[0-9A-Z]{26}$"))]
    pub id: String,
    pub module_id: String,
    pub course_id: String,
    pub title: String,
    /// Markdown.
    pub body: String,
    pub position: i64,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone)]
pub struct Activity {
    #[schemars(regex(pattern = "^act_[0-9A-Z]{26}$"))]
    pub id: String,
    pub lesson_id: String,
    pub course_id: String,
    pub kind: Kind,
    pub title: String,
    /// Whether completing the course needs it.
    pub required: bool,
    pub position: i64,
    /// The score (0–100) an attempt needs to satisfy it; `null`: any submitted attempt does
    /// (for SCORM, the package's own completion and success status decide).
    pub passing_score: Option<f64>,
    /// A quiz's questions.
    pub questions: Option<Vec<Question>>,
    /// A `scorm` activity's package (pkg_…).
    pub scorm_package_id: Option<String>,
    /// A `live_session` activity's session (lvs_…), if already scheduled.
    pub live_session_id: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Page,
    Quiz,
    Assignment,
    Scorm,
    LiveSession,
}

/// A multiple-choice question; `answer` is the index of the right choice.
#[derive(Serialize, Deserialize, JsonSchema, Validate, Clone)]
#[serde(deny_unknown_fields)]
pub struct Question {
    #[garde(length(chars, min = 1, max = 2000), custom(not_blank))]
    pub prompt: String,
    #[garde(length(min = 2, max = 10), inner(length(chars, min = 1, max = 500)))]
    pub choices: Vec<String>,
    #[garde(skip)]
    pub answer: usize,
}

pub fn find(cx: &Ctx, id: &str) -> Result<Course> {
    cx.db()
        .select_one("learn_courses", "WHERE id = ?1", &[&id])?
        .ok_or_else(|| Error::new(404, "course_not_found", NO_COURSE))
}

pub fn find_activity(cx: &Ctx, id: &str) -> Result<Activity> {
    cx.db()
        .select_one("learn_activities", "WHERE id = ?1", &[&id])?
        .ok_or_else(|| Error::not_found("activity"))
}

/// The activities completion needs: those marked required, or all when none is.
pub fn required_activities(cx: &Ctx, course_id: &str) -> Result<Vec<Activity>> {
    let all: Vec<Activity> = cx.db().select("learn_activities", "WHERE course_id = ?1 ORDER BY id", &[&course_id])?;
    Ok(required_of(&all).cloned().collect())
}

fn required_of(all: &[Activity]) -> impl Iterator<Item = &Activity> {
    let any = all.iter().any(|a| a.required);
    all.iter().filter(move |a| a.required || !any)
}

pub fn list(cx: &mut Ctx) -> Result<Page<Course>> {
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("created_at");
    filter.and_opt("status = ?", page.filter_one_of("status", &["draft", "published", "archived"])?);
    page.fetch_as(&cx.db(), "learn_courses", &filter)
}

pub fn get(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<CourseDetail>> {
    detail(cx, find(cx, &id)?).map(Json)
}

fn detail(cx: &Ctx, course: Course) -> Result<CourseDetail> {
    let db = cx.db();
    let modules: Vec<Module> = db.select("learn_modules", "WHERE course_id = ?1 ORDER BY position", &[&course.id])?;
    let lessons: Vec<Lesson> = db.select("learn_lessons", "WHERE course_id = ?1 ORDER BY position", &[&course.id])?;
    let activities: Vec<Activity> = db.select("learn_activities", "WHERE course_id = ?1 ORDER BY position", &[&course.id])?;
    let mut required: Vec<String> = required_of(&activities).map(|a| a.id.clone()).collect();
    required.sort();
    let modules = modules
        .into_iter()
        .map(|module| ModuleOutline {
            lessons: lessons
                .iter()
                .filter(|l| l.module_id == module.id)
                .map(|lesson| LessonOutline {
                    activities: activities.iter().filter(|a| a.lesson_id == lesson.id).cloned().collect(),
                    lesson: lesson.clone(),
                })
                .collect(),
            module,
        })
        .collect();
    Ok(CourseDetail {
        completion: CompletionRule { required_activity_ids: required, min_score: course.min_score },
        course,
        modules,
    })
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewCourse {
    #[garde(length(chars, min = 1, max = MAX_TITLE), custom(not_blank))]
    title: String,
    #[serde(default)]
    #[garde(length(chars, max = MAX_TEXT))]
    description: String,
    #[garde(range(min = 0.0, max = 100.0))]
    min_score: Option<f64>,
    /// A certificate template (ctp_…).
    #[garde(skip)]
    certificate_template_id: Option<String>,
}

pub fn create(cx: &mut Ctx, Json(new): Json<NewCourse>) -> Result<Created<CourseDetail>> {
    if let Some(t) = &new.certificate_template_id {
        crate::certificates::require_template(cx, t)?;
    }
    let now = cx.now();
    let course = Course {
        id: cx.new_id("crs_"),
        title: new.title.trim().to_owned(),
        description: new.description,
        status: CourseStatus::Draft,
        min_score: new.min_score,
        certificate_template_id: new.certificate_template_id,
        created_at: now.clone(),
        updated_at: now,
        published_at: None,
        archived_at: None,
    };
    cx.db().insert("learn_courses", &course)?;
    detail(cx, course).map(Created)
}

/// What may change; a `null` clears the minimum score or the template.
#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schemars(extend("minProperties" = 1))]
pub struct CoursePatch {
    #[garde(length(chars, min = 1, max = MAX_TITLE), custom(not_blank_if_given))]
    title: Option<String>,
    #[garde(length(chars, max = MAX_TEXT))]
    description: Option<String>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    #[schemars(with = "Option<f64>")]
    #[garde(skip)]
    min_score: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable::deserialize")]
    #[schemars(with = "Option<String>")]
    #[garde(skip)]
    certificate_template_id: Option<Option<String>>,
}

pub fn update(cx: &mut Ctx, Path(id): Path<String>, Json(patch): Json<CoursePatch>) -> Result<Json<CourseDetail>> {
    let mut course = find(cx, &id)?;
    if course.status == CourseStatus::Archived {
        return Err(bad_state(course.status));
    }
    if let Some(title) = patch.title {
        course.title = title.trim().to_owned();
    }
    if let Some(description) = patch.description {
        course.description = description;
    }
    if let Some(min_score) = patch.min_score {
        if min_score.is_some_and(|s| !(0.0..=100.0).contains(&s)) {
            return Err(Error::validation("min_score", "from 0 to 100"));
        }
        course.min_score = min_score;
    }
    if let Some(template) = patch.certificate_template_id {
        if let Some(t) = &template {
            crate::certificates::require_template(cx, t)?;
        }
        course.certificate_template_id = template;
    }
    course.updated_at = cx.now();
    cx.db().execute(
        "UPDATE learn_courses SET title = ?1, description = ?2, min_score = ?3, certificate_template_id = ?4, updated_at = ?5 WHERE id = ?6",
        &[&course.title, &course.description, &course.min_score, &course.certificate_template_id, &course.updated_at, &course.id],
    )?;
    detail(cx, course).map(Json)
}

#[derive(Serialize, JsonSchema)]
pub struct PublishedEvent<'a> {
    pub course: &'a Course,
}

pub fn publish(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<CourseDetail>> {
    let course = find(cx, &id)?;
    let problems = incomplete(cx, &course.id)?;
    if course.status.may_become(CourseStatus::Published) && !problems.is_empty() {
        return Err(Error::conflict("course_incomplete", "The course cannot be published yet: see `problems`.").with("problems", problems));
    }
    let course = move_to(cx, course, CourseStatus::Published)?;
    cx.emit("course.published", &PublishedEvent { course: &course })?;
    detail(cx, course).map(Json)
}

pub fn unpublish(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<CourseDetail>> {
    let course = move_to(cx, find(cx, &id)?, CourseStatus::Draft)?;
    detail(cx, course).map(Json)
}

pub fn archive(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<CourseDetail>> {
    let course = move_to(cx, find(cx, &id)?, CourseStatus::Archived)?;
    detail(cx, course).map(Json)
}

fn move_to(cx: &Ctx, mut course: Course, to: CourseStatus) -> Result<Course> {
    if !course.status.may_become(to) {
        return Err(bad_state(course.status));
    }
    let now = cx.now();
    course.status = to;
    course.updated_at = now.clone();
    match to {
        CourseStatus::Published => course.published_at = Some(now),
        CourseStatus::Archived => course.archived_at = Some(now),
        CourseStatus::Draft => {}
    }
    cx.db().execute(
        "UPDATE learn_courses SET status = ?1, updated_at = ?2, published_at = ?3, archived_at = ?4 WHERE id = ?5",
        &[&to.as_str(), &course.updated_at, &course.published_at, &course.archived_at, &course.id],
    )?;
    Ok(course)
}

/// Why a course cannot be published: no lesson, or a SCORM activity whose package is not a
/// parsed one.
fn incomplete(cx: &Ctx, course_id: &str) -> Result<Vec<String>> {
    let mut problems = vec![];
    let lessons = cx.db().query("SELECT count(*) AS n FROM learn_lessons WHERE course_id = ?1", &[&course_id])?;
    if lessons.first().map(|r| r.get::<i64>("n")).transpose()?.unwrap_or(0) == 0 {
        problems.push("The course has no lesson.".to_owned());
    }
    let scorm: Vec<Activity> = cx.db().select("learn_activities", "WHERE course_id = ?1 AND kind = 'scorm' ORDER BY position", &[&course_id])?;
    for activity in scorm {
        let parsed = match &activity.scorm_package_id {
            Some(p) => scorm::find(cx, p).is_ok(),
            None => false,
        };
        if !parsed {
            problems.push(format!("SCORM activity {} has no parsed package.", activity.id));
        }
    }
    Ok(problems)
}

/// Outline changes: refused on an archived course.
fn open_for_outline(cx: &Ctx, course_id: &str) -> Result<Course> {
    let course = find(cx, course_id)?;
    if course.status == CourseStatus::Archived {
        return Err(bad_state(course.status));
    }
    Ok(course)
}

fn next_position(cx: &Ctx, table: &str, parent_column: &str, parent: &str) -> Result<i64> {
    let sql = format!("SELECT coalesce(max(position), 0) + 1 AS p FROM {table} WHERE {parent_column} = ?1");
    let rows = cx.db().query(&sql, &[&parent])?;
    rows.first().map(|r| r.get::<i64>("p")).transpose().map(|p| p.unwrap_or(1))
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewModule {
    #[garde(length(chars, min = 1, max = MAX_TITLE), custom(not_blank))]
    title: String,
}

pub fn create_module(cx: &mut Ctx, Path(course_id): Path<String>, Json(new): Json<NewModule>) -> Result<Created<Module>> {
    open_for_outline(cx, &course_id)?;
    let module = Module {
        id: cx.new_id("mod_"),
        position: next_position(cx, "learn_modules", "course_id", &course_id)?,
        course_id,
        title: new.title.trim().to_owned(),
        created_at: cx.now(),
    };
    cx.db().insert("learn_modules", &module)?;
    Ok(Created(module))
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewLesson {
    #[garde(length(chars, min = 1, max = MAX_TITLE), custom(not_blank))]
    title: String,
    /// Markdown.
    #[serde(default)]
    #[garde(length(chars, max = MAX_TEXT))]
    body: String,
}

pub fn create_lesson(cx: &mut Ctx, Path(module_id): Path<String>, Json(new): Json<NewLesson>) -> Result<Created<Lesson>> {
    let module: Module = cx
        .db()
        .select_one("learn_modules", "WHERE id = ?1", &[&module_id])?
        .ok_or_else(|| Error::not_found("module"))?;
    open_for_outline(cx, &module.course_id)?;
    let lesson = Lesson {
        id: cx.new_id("les_"),
        position: next_position(cx, "learn_lessons", "module_id", &module.id)?,
        module_id: module.id,
        course_id: module.course_id,
        title: new.title.trim().to_owned(),
        body: new.body,
        created_at: cx.now(),
    };
    cx.db().insert("learn_lessons", &lesson)?;
    Ok(Created(lesson))
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewActivity {
    #[garde(skip)]
    kind: Kind,
    #[garde(length(chars, min = 1, max = MAX_TITLE), custom(not_blank))]
    title: String,
    #[serde(default = "yes")]
    #[garde(skip)]
    required: bool,
    #[garde(range(min = 0.0, max = 100.0))]
    passing_score: Option<f64>,
    /// A quiz's questions (1 to 100); required for a quiz, refused for the others.
    #[garde(length(min = 1, max = 100), dive)]
    questions: Option<Vec<Question>>,
    /// A `scorm` activity's parsed package (pkg_…): required for it, refused for the others.
    #[garde(skip)]
    scorm_package_id: Option<String>,
    /// A `live_session` activity's session (lvs_…), optional.
    #[garde(skip)]
    live_session_id: Option<String>,
}

fn yes() -> bool {
    true
}

pub fn create_activity(cx: &mut Ctx, Path(lesson_id): Path<String>, Json(new): Json<NewActivity>) -> Result<Created<Activity>> {
    let lesson: Lesson = cx
        .db()
        .select_one("learn_lessons", "WHERE id = ?1", &[&lesson_id])?
        .ok_or_else(|| Error::not_found("lesson"))?;
    open_for_outline(cx, &lesson.course_id)?;
    match (new.kind, &new.questions) {
        (Kind::Quiz, None) => return Err(Error::validation("questions", "a quiz needs its questions")),
        (Kind::Quiz, Some(questions)) => {
            if let Some(i) = questions.iter().position(|q| q.answer >= q.choices.len()) {
                return Err(Error::validation(&format!("questions[{i}].answer"), "not the index of one of its choices"));
            }
        }
        (_, Some(_)) => return Err(Error::validation("questions", "only a quiz has questions")),
        _ => {}
    }
    match (new.kind, &new.scorm_package_id) {
        (Kind::Scorm, None) => return Err(Error::validation("scorm_package_id", "a SCORM activity needs its package")),
        (Kind::Scorm, Some(p)) => {
            scorm::find(cx, p).map_err(|_| Error::validation("scorm_package_id", "no such SCORM package"))?;
        }
        (_, Some(_)) => return Err(Error::validation("scorm_package_id", "only a SCORM activity has a package")),
        _ => {}
    }
    match (new.kind, &new.live_session_id) {
        (Kind::LiveSession, Some(s)) => {
            crate::live::find(cx, s).map_err(|_| Error::validation("live_session_id", "no such live session"))?;
        }
        (_, Some(_)) => return Err(Error::validation("live_session_id", "only a live_session activity has a session")),
        _ => {}
    }
    let activity = Activity {
        id: cx.new_id("act_"),
        position: next_position(cx, "learn_activities", "lesson_id", &lesson.id)?,
        lesson_id: lesson.id,
        course_id: lesson.course_id,
        kind: new.kind,
        title: new.title.trim().to_owned(),
        required: new.required,
        passing_score: new.passing_score,
        questions: new.questions,
        scorm_package_id: new.scorm_package_id,
        live_session_id: new.live_session_id,
        created_at: cx.now(),
    };
    cx.db().insert("learn_activities", &activity)?;
    Ok(Created(activity))
}
