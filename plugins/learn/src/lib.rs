//! Learn: courses to certificates, SCORM packages, cohorts and live sessions.
//!
//! A course has an outline (modules → lessons → activities: `page`, `quiz`, `assignment`,
//! `scorm`, `live_session`) and a completion rule, and moves `draft → published → archived`
//! ([`courses`]). Host users enroll one by one or a cohort (a host group) at once
//! ([`enrollments`]); their attempts ([`attempts`]) score quizzes, carry SCORM CMI data, and
//! complete the enrollment when the rule is met. A completed enrollment gets a certificate
//! anyone can verify, also an Open Badges 3.0 credential signed with the tenant's Ed25519 key
//! ([`certificates`]). SCORM 1.2 and 2004 packages are read from uploaded zips ([`scorm`]); live
//! sessions mail iCalendar invitations and reminders to their cohort ([`live`]).
//!
//! A conformant xAPI 1.0.3 Learning Record Store sits at `/api/v1/learn/xapi` ([`xapi`]), and
//! Learn records its own attempts and completions there.
//!
//! Routes under `/api/v1/learn` (`learn:read`, `learn:write`, `learn:cohorts:grant`, and the
//! LRS's `learn:xapi:read` and `learn:xapi:write`; the certificate verify page, the issuer
//! profile and the LRS's `about` are public); events `course.published`, `enrollment.created`,
//! `enrollment.completed`. Built on the public SDK.

mod attempts;
mod certificates;
mod courses;
mod enrollments;
mod live;
mod scorm;
mod xapi;

use mobieus_sdk::prelude::*;

struct Learn;

const BASE: &str = "/api/v1/learn";
const READ: &str = "learn:read";
const WRITE: &str = "learn:write";
const GRANT: &str = "learn:cohorts:grant";

fn path(rest: &str) -> String {
    format!("{BASE}{rest}")
}

/// `Option<Option<T>>` for a PATCH: absent, `null` (clear) or a value.
mod nullable {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

impl Plugin for Learn {
    fn manifest() -> Manifest {
        Manifest::new("learn", env!("CARGO_PKG_VERSION"))
            .claims(["learn", "course", "enrollment"])
            .uses([Capability::Files, Capability::Mail, Capability::Timers])
            .scope(READ, "Read every Learn resource.")
            .scope(WRITE, "Create, update, publish and archive Learn resources.")
            .scope(GRANT, "Grant cohort access.")
            .scope(xapi::READ, "Query the xAPI statement store.")
            .scope(xapi::WRITE, "Store xAPI statements.")
            .event_of::<courses::PublishedEvent>("course.published", "A course was published: it takes enrollments.")
            .event_of::<enrollments::EnrollmentEvent>("enrollment.created", "A host user was enrolled in a course, directly or through a cohort.")
            .event_of::<enrollments::CompletedEvent>("enrollment.completed", "An enrollment met its course's completion rule.")
            .setting("public_url", "The tenant's public base URL (https://learn.example.org), for certificate and issuer links; without it, the host the request came to.", "", &[])
            .setting("issuer_name", "The issuer's name on certificates; without it, the tenant's slug.", "", &[])
            .migration(1, "courses", courses::MIGRATION)
            .migration(2, "enrollments", enrollments::MIGRATION)
            .migration(3, "attempts", attempts::MIGRATION)
            .migration(4, "certificates", certificates::MIGRATION)
            .migration(5, "scorm", scorm::MIGRATION)
            .migration(6, "live_sessions", live::MIGRATION)
            .migration(7, "xapi_statements", xapi::STATEMENTS_MIGRATION)
            .migration(8, "xapi_documents", xapi::DOCUMENTS_MIGRATION)
            .migration(9, "issuer_sealed", certificates::SEALED_SEED_MIGRATION)
    }

    fn router() -> Router {
        xapi::routes(Self::learn_routes())
    }

    fn on_timer(cx: &mut Ctx, timer: &Timer) -> std::result::Result<(), String> {
        live::remind(cx, &timer.payload)
    }
}

impl Learn {
    /// Courses to certificates; the LRS's routes come from [`xapi::routes`].
    fn learn_routes() -> Router {
        const NO_COURSE: &str = courses::NO_COURSE;
        const COURSE_STATE: &str = courses::BAD_STATE;
        const NO_ENROLLMENT: &str = enrollments::NO_ENROLLMENT;
        const NOT_PUBLISHED: &str = "Only a published course takes enrollments.";
        const NO_CERTIFICATE: &str = "No certificate has this id.";
        const NO_SESSION: &str = "No live session has this id.";
        const NO_COHORT: &str = "No host group has this id.";
        Router::new()
            // Courses and their outline.
            .route(
                Route::get(&path("/courses"), READ, courses::list)
                    .id("listCourses")
                    .summary("The catalog, newest first")
                    .query("status", "draft, published or archived."),
            )
            .route(Route::post(&path("/courses"), WRITE, courses::create).id("createCourse").summary("Create a course (a draft)"))
            .route(
                Route::get(&path("/courses/{id}"), READ, courses::get)
                    .id("getCourse")
                    .summary("A course with its outline (modules → lessons → activities) and completion rule")
                    .error(404, "course_not_found", NO_COURSE),
            )
            .route(
                Route::patch(&path("/courses/{id}"), WRITE, courses::update)
                    .id("updateCourse")
                    .summary("Change a course's title, description, minimum score or certificate template")
                    .error(404, "course_not_found", NO_COURSE)
                    .error(409, "invalid_course_state", COURSE_STATE),
            )
            .route(
                Route::post(&path("/courses/{id}/publish"), WRITE, courses::publish)
                    .id("publishCourse")
                    .summary("Publish a draft: it needs a lesson, and every SCORM activity a parsed package")
                    .error(404, "course_not_found", NO_COURSE)
                    .error(409, "course_incomplete", "The course has no lesson, or a SCORM activity without a parsed package: see `problems`.")
                    .error(409, "invalid_course_state", COURSE_STATE),
            )
            .route(
                Route::post(&path("/courses/{id}/unpublish"), WRITE, courses::unpublish)
                    .id("unpublishCourse")
                    .summary("Back to draft: no new enrollments; the existing ones stay")
                    .error(404, "course_not_found", NO_COURSE)
                    .error(409, "invalid_course_state", COURSE_STATE),
            )
            .route(
                Route::post(&path("/courses/{id}/archive"), WRITE, courses::archive)
                    .id("archiveCourse")
                    .summary("Archive (final): no enrollments or outline changes; its certificates stay verifiable")
                    .error(404, "course_not_found", NO_COURSE)
                    .error(409, "invalid_course_state", COURSE_STATE),
            )
            .route(
                Route::post(&path("/courses/{id}/modules"), WRITE, courses::create_module)
                    .id("createModule")
                    .summary("Add a module at the end of a course")
                    .error(404, "course_not_found", NO_COURSE)
                    .error(409, "invalid_course_state", COURSE_STATE),
            )
            .route(
                Route::post(&path("/modules/{id}/lessons"), WRITE, courses::create_lesson)
                    .id("createLesson")
                    .summary("Add a lesson at the end of a module")
                    .error(404, "module_not_found", "No module has this id.")
                    .error(409, "invalid_course_state", COURSE_STATE),
            )
            .route(
                Route::post(&path("/lessons/{id}/activities"), WRITE, courses::create_activity)
                    .id("createActivity")
                    .summary("Add an activity (page, quiz, assignment, scorm or live_session), required or optional")
                    .error(404, "lesson_not_found", "No lesson has this id.")
                    .error(409, "invalid_course_state", COURSE_STATE),
            )
            // Enrollments.
            .route(
                Route::get(&path("/enrollments"), READ, enrollments::list)
                    .id("listEnrollments")
                    .summary("Enrollments, newest first")
                    .query("course_id", "Only enrollments in this course (crs_…).")
                    .query("user_id", "Only this learner's (usr_…).")
                    .query("cohort_id", "Only those granted through this cohort (grp_…).")
                    .query("status", "active, suspended, completed or cancelled."),
            )
            .route(
                Route::post(&path("/enrollments"), WRITE, enrollments::create)
                    .id("createEnrollment")
                    .summary("Enroll a host user in a published course")
                    .error(409, "already_enrolled", "The user has an enrollment in this course: `enrollment_id` names it.")
                    .error(409, "course_not_published", NOT_PUBLISHED),
            )
            .route(
                Route::get(&path("/enrollments/{id}"), READ, enrollments::get)
                    .id("getEnrollment")
                    .summary("One enrollment")
                    .error(404, "enrollment_not_found", NO_ENROLLMENT),
            )
            .route(
                Route::post(&path("/enrollments/{id}/cancel"), WRITE, enrollments::cancel)
                    .id("cancelEnrollment")
                    .summary("Cancel an active or suspended enrollment; its attempts are kept")
                    .error(404, "enrollment_not_found", NO_ENROLLMENT)
                    .error(409, "invalid_enrollment_state", "Only an active or suspended enrollment is cancelled."),
            )
            .route(
                Route::post(&path("/enrollments/{id}/suspend"), WRITE, enrollments::suspend)
                    .id("suspendEnrollment")
                    .summary("Suspend an active enrollment: no attempts until resumed; progress is kept")
                    .error(404, "enrollment_not_found", NO_ENROLLMENT)
                    .error(409, "invalid_enrollment_state", "Only an active enrollment is suspended."),
            )
            .route(
                Route::post(&path("/enrollments/{id}/resume"), WRITE, enrollments::resume)
                    .id("resumeEnrollment")
                    .summary("Resume a suspended or cancelled enrollment with its progress")
                    .error(404, "enrollment_not_found", NO_ENROLLMENT)
                    .error(409, "invalid_enrollment_state", "Only a suspended or cancelled enrollment is resumed.")
                    .error(409, "course_not_published", NOT_PUBLISHED),
            )
            .route(
                Route::post(&path("/cohorts/grant"), GRANT, enrollments::grant)
                    .id("grantCohort")
                    .summary("Enroll every member of a cohort (a host group) in a course; running it again changes nothing")
                    .error(404, "cohort_not_found", NO_COHORT)
                    .error(409, "course_not_published", NOT_PUBLISHED),
            )
            // Attempts.
            .route(
                Route::get(&path("/attempts"), READ, attempts::list)
                    .id("listAttempts")
                    .summary("Attempts, newest first")
                    .query("enrollment_id", "Only this enrollment's (enr_…).")
                    .query("activity_id", "Only attempts at this activity (act_…).")
                    .query("course_id", "Only attempts in this course (crs_…).")
                    .query("user_id", "Only this learner's (usr_…).")
                    .query("status", "in_progress or submitted."),
            )
            .route(
                Route::post(&path("/activities/{id}/attempts"), WRITE, attempts::start)
                    .id("startAttempt")
                    .summary("Start an attempt at an activity for an enrollment")
                    .error(404, "activity_not_found", "No activity has this id.")
                    .error(409, "enrollment_not_active", "The enrollment is suspended or cancelled."),
            )
            .route(
                Route::get(&path("/attempts/{id}"), READ, attempts::get)
                    .id("getAttempt")
                    .summary("One attempt, with its answers, score and CMI data")
                    .error(404, "attempt_not_found", "No attempt has this id."),
            )
            .route(
                Route::patch(&path("/attempts/{id}"), WRITE, attempts::save)
                    .id("saveAttemptProgress")
                    .summary("Save progress: a quiz's answers, an assignment's draft, a SCORM runtime's commit of CMI data (merged)")
                    .error(404, "attempt_not_found", "No attempt has this id.")
                    .error(409, "attempt_submitted", "The attempt was submitted."),
            )
            .route(
                Route::post(&path("/attempts/{id}/submit"), WRITE, attempts::submit)
                    .id("submitAttempt")
                    .summary("Submit an attempt: scored, and the enrollment completed when the course's rule is now met")
                    .error(404, "attempt_not_found", "No attempt has this id.")
                    .error(409, "attempt_submitted", "The attempt was submitted.")
                    .error(409, "enrollment_not_active", "The enrollment is suspended or cancelled."),
            )
            // Certificates.
            .route(
                Route::get(&path("/certificates"), READ, certificates::list)
                    .id("listCertificates")
                    .summary("Certificates, newest first")
                    .query("user_id", "Only this holder's (usr_…).")
                    .query("course_id", "Only this course's (crs_…).")
                    .query("status", "valid or revoked."),
            )
            .route(
                Route::post(&path("/certificates"), WRITE, certificates::create)
                    .id("createCertificate")
                    .summary("Mint the certificate of a completed enrollment")
                    .error(409, "enrollment_not_completed", "The enrollment is not completed.")
                    .error(409, "already_certified", "The enrollment has its certificate: `certificate_id` names it."),
            )
            .route(
                Route::get(&path("/certificates/{id}"), READ, certificates::get)
                    .id("getCertificate")
                    .summary("One certificate with its credential")
                    .error(404, "certificate_not_found", NO_CERTIFICATE),
            )
            .route(
                Route::post(&path("/certificates/{id}/revoke"), WRITE, certificates::revoke)
                    .id("revokeCertificate")
                    .summary("Revoke a certificate: its verify page and credential status say so")
                    .error(404, "certificate_not_found", NO_CERTIFICATE)
                    .error(409, "already_revoked", "The certificate is revoked already."),
            )
            .route(
                Route::post(&path("/certificates/{id}/regenerate"), WRITE, certificates::regenerate)
                    .id("regenerateCertificate")
                    .summary("Sign it again with today's names, under the same id and verify URL")
                    .error(404, "certificate_not_found", NO_CERTIFICATE)
                    .error(409, "certificate_revoked", "A revoked certificate is not regenerated."),
            )
            .route(
                Route::get(&path("/certificates/{id}/verify"), READ, certificates::verify)
                    .public()
                    .id("verifyCertificate")
                    .summary("Public, no key: whether a certificate is valid or revoked, its holder, course, issue date and issuer")
                    .error(404, "certificate_not_found", NO_CERTIFICATE),
            )
            .route(
                Route::get(&path("/issuer"), READ, certificates::profile)
                    .public()
                    .id("getIssuerProfile")
                    .summary("Public, no key: the tenant as an Open Badges issuer, with the public key its credentials are signed with"),
            )
            .route(Route::get(&path("/certificate-templates"), READ, certificates::list_templates).id("listCertificateTemplates").summary("Certificate templates, newest first"))
            .route(
                Route::post(&path("/certificate-templates"), WRITE, certificates::create_template)
                    .id("createCertificateTemplate")
                    .summary("Create a certificate template")
                    .error(409, "name_taken", "Another template has this name (compared without case)."),
            )
            // SCORM packages.
            .route(
                Route::get(&path("/scorm-packages"), READ, scorm::list)
                    .id("listScormPackages")
                    .summary("Parsed SCORM packages, newest first")
                    .query("version", "1.2 or 2004."),
            )
            .route(
                Route::post(&path("/scorm-packages"), WRITE, scorm::create)
                    .id("createScormPackage")
                    .summary("Parse an uploaded (clean) SCORM 1.2 or 2004 zip: organizations, items, SCO launch paths")
                    .error(400, "invalid_package", "Not a usable SCORM package: no manifest, no SCO, a path that leaves the package, too many entries, or too many bytes uncompressed.")
                    .error(409, "file_not_clean", "The file has not passed the scan."),
            )
            .route(
                Route::get(&path("/scorm-packages/{id}"), READ, scorm::get)
                    .id("getScormPackage")
                    .summary("One SCORM package")
                    .error(404, "scorm_package_not_found", "No SCORM package has this id."),
            )
            // Live sessions.
            .route(
                Route::get(&path("/live-sessions"), READ, live::list)
                    .id("listLiveSessions")
                    .summary("Live sessions, newest first")
                    .query("cohort_id", "Only this cohort's (grp_…).")
                    .query("starts_after", "Only sessions starting after this time (RFC 3339).")
                    .query("status", "scheduled or cancelled."),
            )
            .route(
                Route::post(&path("/live-sessions"), WRITE, live::create)
                    .id("createLiveSession")
                    .summary("Schedule a session on Meet, Zoom or Webex: the cohort's active members get an iCalendar invitation, and reminders a day and an hour before")
                    .error(404, "cohort_not_found", NO_COHORT),
            )
            .route(
                Route::get(&path("/live-sessions/{id}"), READ, live::get)
                    .id("getLiveSession")
                    .summary("One live session")
                    .error(404, "live_session_not_found", NO_SESSION),
            )
            .route(
                Route::post(&path("/live-sessions/{id}/cancel"), WRITE, live::cancel)
                    .id("cancelLiveSession")
                    .summary("Cancel: members get a METHOD:CANCEL with the same UID and a higher SEQUENCE; pending reminders are dropped")
                    .error(404, "live_session_not_found", NO_SESSION)
                    .error(409, "live_session_cancelled", "The session is cancelled already."),
            )
            .route(
                Route::post(&path("/live-sessions/{id}/recording"), WRITE, live::recording)
                    .id("attachLiveSessionRecording")
                    .summary("Attach the recording once the session has started; the cohort's active members are told")
                    .error(404, "live_session_not_found", NO_SESSION)
                    .error(409, "live_session_cancelled", "The session was cancelled.")
                    .error(409, "live_session_not_started", "The session has not started yet."),
            )
    }
}

mobieus_sdk::export!(Learn);
