//! What a plugin call asks that the host answers outside the call: AI completions, and in a
//! write, GETs of other surfaces. The call never waits inside its sandbox, where it would hold
//! its thread, its plugin slot and, in a write, the tenant's writer while a provider thinks or
//! another surface answers. Instead an ask not yet answered stops the call ([`Asked`], a trap; a
//! write's work is rolled back); the route answers it with nothing held, then runs the call again
//! from the start with the answers so far ([`Answers`]), where the same ask returns at once. A
//! call asks at most [`MAX_ASKS`] times, so it runs at most one time more than that.

use crate::ai::{Ai, Answer, Asker as AiAsker, Question};
use crate::http::context::Authenticated;
use crate::plugins::bindings::types;
use crate::plugins::surfaces::Asker;

/// The most asks one call may make.
pub const MAX_ASKS: usize = 8;

/// One thing a call asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    /// A completion on the tenant's provider.
    Ai(Question),
    /// A GET of another surface's or the host's route as the caller (`surfaces`), from a write.
    Surface(String),
}

/// What an ask got.
#[derive(Debug, Clone)]
enum Got {
    Ai(Answer),
    Surface(Result<types::Response, types::Error>),
}

/// The trap that stops a call: what it asked.
#[derive(Debug)]
pub struct Asked(pub Box<Ask>);

impl std::fmt::Display for Asked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the call asked something answered outside it; it runs again with the answer")
    }
}

impl std::error::Error for Asked {}

/// The asks of a call's earlier runs, with their answers.
#[derive(Debug, Clone, Default)]
pub struct Answers(Vec<(Ask, Got)>);

/// What answering an ask needs: the AI client, the tenant's files, the caller, and for a
/// surface GET the caller's credential ([`Asker`]) and the answer's size cap.
pub struct Answering<'a> {
    pub ai: &'a Ai,
    pub store: &'a tenants::Store,
    pub auth: &'a Authenticated,
    pub plugin: &'a str,
    pub request_id: &'a str,
    pub surfaces: Option<Asker>,
    pub max_result: usize,
}

impl Answers {
    pub fn ai(&self, question: &Question) -> Option<&Answer> {
        self.0.iter().find_map(|(ask, got)| match (ask, got) {
            (Ask::Ai(q), Got::Ai(a)) if q == question => Some(a),
            _ => None,
        })
    }

    pub fn surface(&self, path: &str) -> Option<&Result<types::Response, types::Error>> {
        self.0.iter().find_map(|(ask, got)| match (ask, got) {
            (Ask::Surface(p), Got::Surface(r)) if p == path => Some(r),
            _ => None,
        })
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Answers `ask` with nothing held.
    pub async fn answer(&mut self, cx: &Answering<'_>, ask: Ask) -> crate::error::Result<()> {
        let got = match &ask {
            Ask::Ai(question) => {
                let live = cx.store.db(&cx.auth.tenant, tenants::Env::Live)?;
                let asker = AiAsker {
                    tenant_id: cx.auth.tenant.id.clone(),
                    plugin: cx.plugin.to_owned(),
                    request_id: cx.request_id.to_owned(),
                };
                Got::Ai(cx.ai.answer(live, &asker, question).await)
            }
            Ask::Surface(path) => Got::Surface(match &cx.surfaces {
                Some(asker) => asker.fetch(path, cx.max_result).await,
                None => Err(types::Error::Denied(
                    "this call cannot call surfaces".into(),
                )),
            }),
        };
        self.0.push((ask, got));
        Ok(())
    }
}
