//! Questions a plugin call asks that the host answers outside the call: AI completions. The call
//! never waits inside its sandbox, where it would hold its thread, its plugin slot and, in a
//! write, the tenant's writer while a provider thinks. Instead `ai.complete` with a question not
//! yet answered stops the call ([`Asked`], a trap; a write's work is rolled back); the route
//! answers the question with nothing held, then runs the call again from the start with the
//! answers so far ([`Answers`]), where `complete` returns at once. A call asks at most
//! [`MAX_ASKS`] questions, so it runs at most one time more than that.

use crate::ai::{Ai, Answer, Asker, Question};
use crate::http::context::Authenticated;

/// The most questions one call may ask.
pub const MAX_ASKS: usize = 8;

/// The trap that stops a call: the question it asked.
#[derive(Debug)]
pub struct Asked(pub Box<Question>);

impl std::fmt::Display for Asked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the call asked the AI provider a question; it runs again with the answer")
    }
}

impl std::error::Error for Asked {}

/// The questions a call asked in earlier runs, with their answers.
#[derive(Debug, Clone, Default)]
pub struct Answers(Vec<(Question, Answer)>);

impl Answers {
    pub fn find(&self, question: &Question) -> Option<&Answer> {
        self.0.iter().find(|(q, _)| q == question).map(|(_, a)| a)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Answers `question` for the call of `plugin` by `auth`'s caller, with nothing held.
    pub async fn answer(
        &mut self,
        ai: &Ai,
        store: &tenants::Store,
        auth: &Authenticated,
        plugin: &str,
        request_id: &str,
        question: Question,
    ) -> crate::error::Result<()> {
        let live = store.db(&auth.tenant, tenants::Env::Live)?;
        let asker = Asker {
            tenant_id: auth.tenant.id.clone(),
            plugin: plugin.to_owned(),
            request_id: request_id.to_owned(),
        };
        let answer = ai.answer(live, &asker, &question).await;
        self.0.push((question, answer));
        Ok(())
    }
}
