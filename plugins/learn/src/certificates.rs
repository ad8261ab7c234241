//! Certificates anyone can verify: minted for a completed enrollment (by hand, or on completion
//! when the course has a template), revoked, regenerated under the same id; each is also an
//! Open Badges 3.0 credential, a W3C verifiable credential as a JWT signed with the tenant's own
//! Ed25519 key, whose public half the tenant publishes at `GET /issuer`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signer, SigningKey};
use mobieus_sdk::check::not_blank;
use mobieus_sdk::prelude::*;

use crate::courses::{self, Course};
use crate::enrollments::{self, Enrollment, EnrollmentStatus};

pub const MIGRATION: &str = "
    CREATE TABLE learn_certificate_templates (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        title       TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        created_at  TEXT NOT NULL
    );
    CREATE TABLE learn_certificates (
        id                TEXT PRIMARY KEY,
        enrollment_id     TEXT NOT NULL UNIQUE,
        course_id         TEXT NOT NULL,
        user_id           TEXT NOT NULL,
        template_id       TEXT NOT NULL,
        title             TEXT NOT NULL,
        holder_name       TEXT NOT NULL,
        course_title      TEXT NOT NULL,
        issued_at         TEXT NOT NULL,
        status            TEXT NOT NULL CHECK (status IN ('valid', 'revoked')),
        revoked_at        TEXT,
        revocation_reason TEXT,
        version           INTEGER NOT NULL,
        regenerated_at    TEXT,
        verify_url        TEXT NOT NULL,
        credential        TEXT NOT NULL
    );
    CREATE INDEX learn_certificates_user ON learn_certificates (user_id, id);
    CREATE INDEX learn_certificates_course ON learn_certificates (course_id, id);
    -- The tenant's signing key: one row. The private half never leaves this table, and is kept
    -- sealed with the server's key (`sealed_seed`, added by SEALED_SEED_MIGRATION).
    CREATE TABLE learn_issuer (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        seed       BLOB NOT NULL,
        public_key BLOB NOT NULL,
        name       TEXT NOT NULL,
        base_url   TEXT NOT NULL,
        created_at TEXT NOT NULL
    );";

/// The issuer key's private half sealed with the server's key (`secrets`), so a copied tenant file
/// alone cannot sign a credential. A key from before is sealed the next time it signs; `seed` is
/// then emptied.
pub const SEALED_SEED_MIGRATION: &str = "ALTER TABLE learn_issuer ADD COLUMN sealed_seed TEXT;";

/// The label the issuer key is sealed for.
const SEED_LABEL: &str = "issuer-seed";

const TABLE: &str = "learn_certificates";
const NO_TEMPLATE: &str = "No certificate template has this id.";

#[derive(Serialize, Deserialize, JsonSchema, Clone)]
pub struct Template {
    #[schemars(regex(pattern = "^ctp_[0-9A-Z]{26}$"))]
    pub id: String,
    pub name: String,
    /// What the certificate is called, e.g. "Certificate of completion".
    pub title: String,
    pub description: String,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
}

impl HasId for Template {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone)]
pub struct Certificate {
    #[schemars(regex(pattern = "^cer_[0-9A-Z]{26}$"))]
    pub id: String,
    pub enrollment_id: String,
    pub course_id: String,
    /// The holder, a host user (usr_…).
    pub user_id: String,
    pub template_id: String,
    pub title: String,
    pub holder_name: String,
    pub course_title: String,
    #[schemars(extend("format" = "date-time"))]
    pub issued_at: String,
    pub status: CertificateStatus,
    #[schemars(extend("format" = "date-time"))]
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<String>,
    /// 1, and one more at each regeneration.
    pub version: i64,
    #[schemars(extend("format" = "date-time"))]
    pub regenerated_at: Option<String>,
    /// The public page (no key) that says whether it is valid.
    pub verify_url: String,
    /// The Open Badges 3.0 credential: a JWT (EdDSA) whose key is at the issuer's profile.
    pub credential: String,
}

impl HasId for Certificate {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    Valid,
    Revoked,
}

pub fn require_template(cx: &Ctx, id: &str) -> Result<Template> {
    cx.db()
        .select_one("learn_certificate_templates", "WHERE id = ?1", &[&id])?
        .ok_or_else(|| Error::validation("certificate_template_id", NO_TEMPLATE))
}

fn find(cx: &Ctx, id: &str) -> Result<Certificate> {
    cx.db().select_one(TABLE, "WHERE id = ?1", &[&id])?.ok_or_else(|| Error::not_found("certificate"))
}

pub fn list_templates(cx: &mut Ctx) -> Result<Page<Template>> {
    let page = PageRequest::from(cx)?;
    page.fetch_as(&cx.db(), "learn_certificate_templates", &page.time_filter("created_at"))
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    #[garde(length(chars, min = 1, max = 100), custom(not_blank))]
    name: String,
    #[garde(length(chars, min = 1, max = 200), custom(not_blank))]
    title: String,
    #[serde(default)]
    #[garde(length(chars, max = 2000))]
    description: String,
}

pub fn create_template(cx: &mut Ctx, Json(new): Json<NewTemplate>) -> Result<Created<Template>> {
    let name = new.name.trim().to_owned();
    if !cx.db().query("SELECT 1 AS x FROM learn_certificate_templates WHERE lower(name) = lower(?1)", &[&name])?.is_empty() {
        return Err(Error::conflict("name_taken", "Another template has this name (compared without case)."));
    }
    let template = Template { id: cx.new_id("ctp_"), name, title: new.title.trim().to_owned(), description: new.description, created_at: cx.now() };
    cx.db().insert("learn_certificate_templates", &template)?;
    Ok(Created(template))
}

pub fn list(cx: &mut Ctx) -> Result<Page<Certificate>> {
    let page = PageRequest::from(cx)?;
    let mut filter = page.time_filter("issued_at");
    filter.and_opt("user_id = ?", page.filter("user_id"));
    filter.and_opt("course_id = ?", page.filter("course_id"));
    filter.and_opt("status = ?", page.filter_one_of("status", &["valid", "revoked"])?);
    page.fetch_as(&cx.db(), TABLE, &filter)
}

pub fn get(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<Certificate>> {
    find(cx, &id).map(Json)
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewCertificate {
    /// A completed enrollment (enr_…).
    #[garde(skip)]
    enrollment_id: String,
    /// The template; without it, the course's (ctp_…).
    #[garde(skip)]
    template_id: Option<String>,
}

pub fn create(cx: &mut Ctx, Json(new): Json<NewCertificate>) -> Result<Created<Certificate>> {
    let enrollment = enrollments::find(cx, &new.enrollment_id).map_err(|_| Error::validation("enrollment_id", "no such enrollment"))?;
    if enrollment.status != EnrollmentStatus::Completed {
        return Err(Error::conflict("enrollment_not_completed", "A certificate is minted only for a completed enrollment.").with("status", enrollment.status.as_str()));
    }
    if let Some(existing) = cx.db().select_one::<Certificate>(TABLE, "WHERE enrollment_id = ?1", &[&enrollment.id])? {
        return Err(Error::conflict("already_certified", "This enrollment has its certificate already.").with("certificate_id", existing.id));
    }
    let course = courses::find(cx, &enrollment.course_id)?;
    let template = new
        .template_id
        .or_else(|| course.certificate_template_id.clone())
        .ok_or_else(|| Error::validation("template_id", "the course has no certificate template: name one"))?;
    require_template(cx, &template).map_err(|_| Error::validation("template_id", NO_TEMPLATE))?;
    mint(cx, &enrollment, &course, &template).map(Created)
}

/// Mints the certificate of a completed enrollment.
pub fn mint(cx: &Ctx, enrollment: &Enrollment, course: &Course, template_id: &str) -> Result<Certificate> {
    let template = require_template(cx, template_id)?;
    let holder = cx.user(&enrollment.user_id)?;
    let holder_name = holder.map(|u| u.display_name.unwrap_or(u.username)).unwrap_or_else(|| enrollment.user_id.clone());
    let issuer = issuer(cx, true)?.ok_or_else(|| Error::internal("no issuer key"))?;
    let id = cx.new_id("cer_");
    let mut certificate = Certificate {
        verify_url: format!("{}/api/v1/learn/certificates/{id}/verify", issuer.base_url),
        id,
        enrollment_id: enrollment.id.clone(),
        course_id: course.id.clone(),
        user_id: enrollment.user_id.clone(),
        template_id: template.id.clone(),
        title: template.title.clone(),
        holder_name,
        course_title: course.title.clone(),
        issued_at: cx.now(),
        status: CertificateStatus::Valid,
        revoked_at: None,
        revocation_reason: None,
        version: 1,
        regenerated_at: None,
        credential: String::new(),
    };
    certificate.credential = sign(cx, &issuer, &certificate, course, &template)?;
    cx.db().insert(TABLE, &certificate)?;
    Ok(certificate)
}

#[derive(Deserialize, JsonSchema, Validate, Default)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    #[garde(length(chars, max = 500))]
    reason: Option<String>,
}

pub fn revoke(cx: &mut Ctx, Path(id): Path<String>, JsonOrDefault(why): JsonOrDefault<Revocation>) -> Result<Json<Certificate>> {
    let mut certificate = find(cx, &id)?;
    if certificate.status == CertificateStatus::Revoked {
        return Err(Error::conflict("already_revoked", "The certificate is revoked already."));
    }
    certificate.status = CertificateStatus::Revoked;
    certificate.revoked_at = Some(cx.now());
    certificate.revocation_reason = why.reason;
    cx.db().execute(
        "UPDATE learn_certificates SET status = 'revoked', revoked_at = ?1, revocation_reason = ?2 WHERE id = ?3",
        &[&certificate.revoked_at, &certificate.revocation_reason, &certificate.id],
    )?;
    Ok(Json(certificate))
}

/// Signs it again with today's names (holder, course, template) under the same id and URL.
pub fn regenerate(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<Certificate>> {
    let mut certificate = find(cx, &id)?;
    if certificate.status == CertificateStatus::Revoked {
        return Err(Error::conflict("certificate_revoked", "A revoked certificate is not regenerated."));
    }
    let course = courses::find(cx, &certificate.course_id)?;
    let template = require_template(cx, &certificate.template_id)?;
    if let Some(user) = cx.user(&certificate.user_id)? {
        certificate.holder_name = user.display_name.unwrap_or(user.username);
    }
    certificate.title = template.title.clone();
    certificate.course_title = course.title.clone();
    certificate.version += 1;
    certificate.regenerated_at = Some(cx.now());
    let issuer = issuer(cx, true)?.ok_or_else(|| Error::internal("no issuer key"))?;
    certificate.credential = sign(cx, &issuer, &certificate, &course, &template)?;
    cx.db().execute(
        "UPDATE learn_certificates SET holder_name = ?1, title = ?2, course_title = ?3, version = ?4, regenerated_at = ?5, credential = ?6 WHERE id = ?7",
        &[&certificate.holder_name, &certificate.title, &certificate.course_title, &certificate.version, &certificate.regenerated_at, &certificate.credential, &certificate.id],
    )?;
    Ok(Json(certificate))
}

/// What the public verify page answers.
#[derive(Serialize, JsonSchema)]
pub struct Verification {
    pub id: String,
    /// Issued and not revoked.
    pub valid: bool,
    pub status: CertificateStatus,
    pub title: String,
    /// The holder's name (never their user id: this page is public).
    pub holder: Holder,
    pub course: Named,
    #[schemars(extend("format" = "date-time"))]
    pub issued_at: String,
    pub issuer: Named,
    #[schemars(extend("format" = "date-time"))]
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<String>,
    /// The Open Badges 3.0 credential (JWT), to check without trusting this page.
    pub credential: String,
}

#[derive(Serialize, JsonSchema)]
pub struct Holder {
    pub name: String,
}

#[derive(Serialize, JsonSchema)]
pub struct Named {
    pub id: String,
    pub name: String,
}

pub fn verify(cx: &mut Ctx, Path(id): Path<String>) -> Result<Json<Verification>> {
    let c = find(cx, &id)?;
    let issuer = issuer(cx, false)?.ok_or_else(|| Error::internal("a certificate without an issuer key"))?;
    Ok(Json(Verification {
        valid: c.status == CertificateStatus::Valid,
        status: c.status,
        title: c.title,
        holder: Holder { name: c.holder_name },
        course: Named { id: c.course_id, name: c.course_title },
        issued_at: c.issued_at,
        issuer: Named { id: issuer.profile_url(), name: issuer.name },
        revoked_at: c.revoked_at,
        revocation_reason: c.revocation_reason,
        credential: c.credential,
        id: c.id,
    }))
}

/// The tenant as an Open Badges issuer: its profile and public key.
#[derive(Serialize, JsonSchema)]
pub struct Profile {
    #[serde(rename = "@context")]
    pub context: Vec<String>,
    /// This page's URL.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Vec<String>,
    pub name: String,
    pub url: String,
    /// The keys certificates are signed with (empty until the first certificate).
    #[serde(rename = "verificationMethod")]
    pub verification_method: Vec<Method>,
}

#[derive(Serialize, JsonSchema)]
pub struct Method {
    /// What a credential's JWT header names as its `kid`.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub controller: String,
    #[serde(rename = "publicKeyJwk")]
    pub public_key_jwk: Jwk,
}

#[derive(Serialize, JsonSchema, Clone)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// The Ed25519 public key, base64url.
    pub x: String,
}

pub fn profile(cx: &mut Ctx) -> Result<Json<Profile>> {
    let issuer = issuer(cx, false)?;
    let (id, name, url, methods) = match issuer {
        Some(i) => (i.profile_url(), i.name.clone(), i.base_url.clone(), vec![i.method()]),
        None => {
            let base = base_url(cx);
            (format!("{base}/api/v1/learn/issuer"), configured_name(cx).unwrap_or_default(), base, vec![])
        }
    };
    Ok(Json(Profile {
        context: vec!["https://www.w3.org/ns/credentials/v2".into(), OB_CONTEXT.into()],
        id,
        kind: vec!["Profile".into()],
        name,
        url,
        verification_method: methods,
    }))
}

const OB_CONTEXT: &str = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json";

struct Issuer {
    /// The private half, sealed (or, in a file from before sealing, plaintext until it next signs).
    seed: Seed,
    public_key: Vec<u8>,
    name: String,
    base_url: String,
}

enum Seed {
    Sealed(String),
    Plain(Vec<u8>),
}

impl Issuer {
    /// The signing key, opened; a plaintext one from before sealing is sealed on the way (in a
    /// write: signing is only done in one).
    fn signing_key(&self, cx: &Ctx) -> Result<SigningKey> {
        let seed = match &self.seed {
            Seed::Sealed(sealed) => cx.open_sealed(SEED_LABEL, sealed).map_err(|e| {
                // The operator's to fix, so the detail goes to the server log, not the client.
                cx.warn(&format!(
                    "the issuer key did not open ({}): this tenant file was sealed by a server with another server.secret; start this one with that file",
                    e.message
                ));
                Error::internal("The community's certificate signing key is not available on this server; the operator's log says why.")
            })?,
            Seed::Plain(seed) => {
                let sealed = cx.seal(SEED_LABEL, seed)?;
                cx.db().execute("UPDATE learn_issuer SET sealed_seed = ?1, seed = x'' WHERE id = 1", &[&sealed])?;
                seed.clone()
            }
        };
        let seed: [u8; 32] = seed.as_slice().try_into().map_err(|_| Error::internal("issuer key: not 32 bytes"))?;
        Ok(SigningKey::from_bytes(&seed))
    }

    fn profile_url(&self) -> String {
        format!("{}/api/v1/learn/issuer", self.base_url)
    }

    fn method(&self) -> Method {
        Method {
            id: format!("{}#key-1", self.profile_url()),
            kind: "JsonWebKey".into(),
            controller: self.profile_url(),
            public_key_jwk: self.jwk(),
        }
    }

    fn jwk(&self) -> Jwk {
        Jwk { kty: "OKP".into(), crv: "Ed25519".into(), x: B64.encode(&self.public_key) }
    }
}

/// The tenant's issuer key, made on first use (in a write) from the host's secure random source.
fn issuer(cx: &Ctx, create: bool) -> Result<Option<Issuer>> {
    if let Some(row) = cx.db().query_one("SELECT seed, sealed_seed, public_key, name, base_url FROM learn_issuer WHERE id = 1", &[])? {
        let seed = match row.get::<Option<String>>("sealed_seed")? {
            Some(sealed) => Seed::Sealed(sealed),
            None => Seed::Plain(row.get("seed")?),
        };
        return Ok(Some(Issuer { seed, public_key: row.get("public_key")?, name: row.get("name")?, base_url: row.get("base_url")? }));
    }
    if !create {
        return Ok(None);
    }
    let seed = cx.random_bytes(32);
    let key = SigningKey::from_bytes(seed.as_slice().try_into().map_err(|_| Error::internal("random: short"))?);
    let name = configured_name(cx).or_else(|| cx.caller().map(|c| c.tenant)).unwrap_or_default();
    let sealed = cx.seal(SEED_LABEL, &seed)?;
    let issuer = Issuer { public_key: key.verifying_key().to_bytes().to_vec(), seed: Seed::Sealed(sealed.clone()), name, base_url: base_url(cx) };
    cx.db().execute(
        "INSERT INTO learn_issuer (id, seed, sealed_seed, public_key, name, base_url, created_at) VALUES (1, x'', ?1, ?2, ?3, ?4, ?5)",
        &[&sealed, &issuer.public_key, &issuer.name, &issuer.base_url, &cx.now()],
    )?;
    Ok(Some(issuer))
}

fn configured_name(cx: &Ctx) -> Option<String> {
    cx.config("issuer_name").filter(|n| !n.trim().is_empty())
}

/// Where the tenant is reached: the `public_url` setting, else this request's host (`http` for
/// a local one, else `https`).
pub fn base_url(cx: &Ctx) -> String {
    if let Some(url) = cx.config("public_url").filter(|u| !u.trim().is_empty()) {
        return url.trim_end_matches('/').to_owned();
    }
    let host = cx.header("host").unwrap_or("localhost");
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let local = name == "localhost" || name.ends_with(".localhost") || name.parse::<std::net::IpAddr>().is_ok() || name.starts_with('[');
    format!("{}://{host}", if local { "http" } else { "https" })
}

/// The Open Badges 3.0 credential of a certificate as a VC-JWT: the credential is the JWT's
/// payload, with `iss`, `jti`, `sub`, `nbf` and `iat` beside it.
fn sign(cx: &Ctx, issuer: &Issuer, c: &Certificate, course: &Course, template: &Template) -> Result<String> {
    let issued_ms = cx.ms_of(&c.issued_at).unwrap_or_else(|| cx.now_ms());
    // The enrollment's registration UUID names the learner: no user id leaves the tenant.
    let registration = crate::enrollments::find(cx, &c.enrollment_id)?.registration;
    let subject = format!("urn:uuid:{registration}");
    let achievement = format!("{}/api/v1/learn/courses/{}", issuer.base_url, course.id);
    let payload = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2", OB_CONTEXT],
        "id": c.verify_url,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": format!("{}: {}", template.title, course.title),
        "issuer": { "id": issuer.profile_url(), "type": ["Profile"], "name": issuer.name },
        "validFrom": c.issued_at,
        "credentialSubject": {
            "id": subject,
            "type": ["AchievementSubject"],
            "name": c.holder_name,
            "achievement": {
                "id": achievement,
                "type": ["Achievement"],
                "name": course.title,
                "description": if course.description.is_empty() { template.description.clone() } else { course.description.clone() },
                "criteria": { "narrative": "Completed every required activity of the course under its completion rule." },
            },
        },
        "credentialStatus": { "id": c.verify_url, "type": "1EdTechRevocationList" },
        "iss": issuer.profile_url(),
        "jti": c.verify_url,
        "sub": subject,
        "nbf": issued_ms / 1000,
        "iat": cx.now_ms() / 1000,
    });
    let header = json!({ "alg": "EdDSA", "typ": "JWT", "kid": issuer.method().id, "jwk": issuer.jwk() });
    let signing_input = format!("{}.{}", B64.encode(mobieus_sdk::json::to_vec(&header)?), B64.encode(mobieus_sdk::json::to_vec(&payload)?));
    let key = issuer.signing_key(cx)?;
    let signature = key.sign(signing_input.as_bytes());
    Ok(format!("{signing_input}.{}", B64.encode(signature.to_bytes())))
}
