//! Learn's own progress as xAPI statements in the tenant's LRS, so the analytics tools that read
//! it see Learn beside the content that reports itself: a submitted attempt is `completed`
//! (`passed` or `failed` when the activity has a passing score), a completed enrollment is the
//! course `completed`. The learner is an account agent of the tenant (`homePage` its public
//! URL, `name` the host user id); `context.registration` is the enrollment's, as a cmi5 launch
//! of the same enrollment would report; the course is the parent of its activities.

use mobieus_sdk::json::Value;
use mobieus_sdk::prelude::*;

use crate::attempts::Attempt;
use crate::courses::{Activity, Course, Kind};
use crate::enrollments::Enrollment;

const COMPLETED: &str = "http://adlnet.gov/expapi/verbs/completed";
const PASSED: &str = "http://adlnet.gov/expapi/verbs/passed";
const FAILED: &str = "http://adlnet.gov/expapi/verbs/failed";

/// The statement of a submitted attempt.
pub fn attempt_submitted(cx: &Ctx, attempt: &Attempt, activity: &Activity, enrollment: &Enrollment) -> Result<()> {
    let verb = match activity.passing_score {
        Some(_) if attempt.satisfied => PASSED,
        Some(_) => FAILED,
        None => COMPLETED,
    };
    let kind = match activity.kind {
        Kind::Quiz => "http://adlnet.gov/expapi/activities/assessment",
        Kind::Scorm => "http://adlnet.gov/expapi/activities/module",
        Kind::LiveSession => "http://adlnet.gov/expapi/activities/meeting",
        Kind::Page | Kind::Assignment => "http://adlnet.gov/expapi/activities/lesson",
    };
    let mut result = json!({ "completion": true, "success": attempt.satisfied });
    if let Some(score) = attempt.score {
        result["score"] = json!({ "scaled": (score / 100.0).clamp(0.0, 1.0), "raw": score, "min": 0, "max": 100 });
    }
    let statement = json!({
        "actor": learner(cx, &enrollment.user_id)?,
        "verb": { "id": verb, "display": { "en": verb.rsplit('/').next().unwrap_or(verb) } },
        "object": activity_object(cx, &format!("activities/{}", activity.id), &activity.title, kind),
        "result": result,
        "context": context(cx, enrollment, true),
        "timestamp": attempt.submitted_at.clone().unwrap_or_else(|| cx.now()),
    });
    super::statements::record(cx, statement)
}

/// The statement of a completed enrollment.
pub fn enrollment_completed(cx: &Ctx, enrollment: &Enrollment, course: &Course) -> Result<()> {
    let mut result = json!({ "completion": true, "success": true });
    if let Some(score) = enrollment.score {
        result["score"] = json!({ "scaled": (score / 100.0).clamp(0.0, 1.0), "raw": score, "min": 0, "max": 100 });
    }
    let statement = json!({
        "actor": learner(cx, &enrollment.user_id)?,
        "verb": { "id": COMPLETED, "display": { "en": "completed" } },
        "object": activity_object(cx, &format!("courses/{}", course.id), &course.title, "http://adlnet.gov/expapi/activities/course"),
        "result": result,
        "context": context(cx, enrollment, false),
        "timestamp": enrollment.completed_at.clone().unwrap_or_else(|| cx.now()),
    });
    super::statements::record(cx, statement)
}

fn learner(cx: &Ctx, user_id: &str) -> Result<Value> {
    let mut agent = json!({
        "objectType": "Agent",
        "account": { "homePage": crate::certificates::base_url(cx), "name": user_id },
    });
    if let Some(user) = cx.user(user_id)? {
        agent["name"] = Value::from(user.display_name.unwrap_or(user.username));
    }
    Ok(agent)
}

fn activity_object(cx: &Ctx, path: &str, title: &str, kind: &str) -> Value {
    json!({
        "objectType": "Activity",
        "id": format!("{}/api/v1/learn/{path}", crate::certificates::base_url(cx)),
        "definition": { "name": { "en": title }, "type": kind },
    })
}

fn context(cx: &Ctx, enrollment: &Enrollment, in_course: bool) -> Value {
    let mut context = json!({ "registration": enrollment.registration, "platform": "Mobieus Learn" });
    if in_course {
        let course = format!("{}/api/v1/learn/courses/{}", crate::certificates::base_url(cx), enrollment.course_id);
        context["contextActivities"] = json!({ "parent": [{ "objectType": "Activity", "id": course }] });
    }
    context
}
