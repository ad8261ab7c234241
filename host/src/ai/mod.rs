//! AI on the tenant's own key (contract 1.1 `ai`). The tenant sets its provider, model and key
//! ([`provider`], `mobieus ai set`, the console); a plugin asks a [`Question`]; the host answers
//! it ([`Ai::answer`]; the types in [`question`]): the tenant's settings and budget, the SSRF guard, the provider's wire
//! format ([`wire`]), the answer checked against the plugin's JSON Schema (one repair), and
//! every provider call metered ([`usage`]).
//!
//! The host never asks while it holds anything: a plugin call that asks is stopped, the question
//! answered here, and the call run again with the answer (`plugins::asks`). So a hundred calls
//! waiting on a slow provider hold no thread, no tenant writer, no plugin slot.

pub mod provider;
pub mod question;
pub mod usage;
pub mod wire;

pub use question::{AiError, Answer, Completion, Message, Question, Role};

use std::sync::Arc;
use std::time::{Duration, Instant};

use tenants::db::TenantDb;

use crate::sealed::ServerKey;
use crate::ssrf::{self, Guard, Policy, SystemLookup};

/// The operator's AI settings (`serve --ai-…`).
#[derive(Debug, Clone)]
pub struct AiConfig {
    /// The longest a question may take, a repair included.
    pub timeout: Duration,
    /// Beyond the SSRF guard's rules: a local model server on loopback needs an allowed range.
    pub policy: Policy,
    /// PEM root certificates trusted for providers' TLS, beside the usual roots.
    pub extra_roots: Vec<Vec<u8>>,
}

impl Default for AiConfig {
    fn default() -> Self {
        AiConfig {
            timeout: Duration::from_secs(60),
            policy: Policy::default(),
            extra_roots: vec![],
        }
    }
}

/// The AI service: the operator's settings, the key that opens tenants' sealed provider keys, and
/// the HTTP client whose every connection goes through the SSRF guard.
pub struct Ai {
    pub config: AiConfig,
    pub key: Arc<ServerKey>,
    client: reqwest::Client,
}

impl Ai {
    pub fn new(config: AiConfig, key: Arc<ServerKey>) -> anyhow::Result<Ai> {
        let guard = Guard::new(config.policy.clone(), Arc::new(SystemLookup));
        let mut builder = reqwest::Client::builder()
            .dns_resolver(Arc::new(guard))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("Mobieus/", env!("CARGO_PKG_VERSION")));
        for pem in &config.extra_roots {
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem)?);
        }
        Ok(Ai {
            config,
            key,
            client: builder.build()?,
        })
    }

    /// Answers a plugin's question on the tenant's provider. `live` is the tenant's live file,
    /// where its provider and meter are, whichever environment the caller's key is for.
    pub async fn answer(&self, live: Arc<TenantDb>, asker: &Asker, question: &Question) -> Answer {
        question.check()?;
        let (tenant_id, plugin) = (asker.tenant_id.clone(), asker.plugin.clone());
        let read = live.clone();
        let (settings, spent) = tokio::task::spawn_blocking(move || {
            read.read(|conn| {
                let settings = provider::load(conn, &plugin)?;
                let spent = usage::month_total(conn, &usage::month_of(chrono::Utc::now()))?;
                Ok::<_, tenants::Error>((settings, spent))
            })
        })
        .await
        .map_err(|e| AiError::Provider(format!("the host failed: {e}")))?
        .map_err(|e| AiError::Provider(format!("the host failed: {e}")))?;
        let settings = settings.ok_or(AiError::NotConfigured)?;
        if settings.monthly_token_budget.is_some_and(|b| spent >= b) {
            return Err(AiError::BudgetExceeded);
        }
        let key = settings
            .open_key(&self.key, &tenant_id)
            .map_err(|_| AiError::Provider("the tenant's key does not open with this server's secret: set it again with `mobieus ai set`".into()))?;
        if let Err(refusal) = ssrf::check_url(&settings.base_url, &self.config.policy) {
            return Err(AiError::Provider(format!(
                "the provider URL is refused: {refusal}"
            )));
        }
        let started = Instant::now();
        let mut spend = wire::Spend::default();
        let outcome = tokio::time::timeout(
            self.config.timeout,
            wire::ask(&self.client, &settings, &key, question, &mut spend),
        )
        .await
        .unwrap_or(Err(AiError::Timeout));
        let meter = usage::Call {
            plugin: asker.plugin.clone(),
            feature: question.feature.clone(),
            provider: settings.provider.as_str().to_owned(),
            model: spend.model.clone().unwrap_or(settings.model.clone()),
            input_tokens: spend.input_tokens,
            output_tokens: spend.output_tokens,
            latency_ms: started.elapsed().as_millis() as i64,
            outcome: match &outcome {
                Ok(_) => "ok",
                Err(e) => e.code(),
            },
            request_id: asker.request_id.clone(),
        };
        if let Err(e) = live
            .write_async(move |w| usage::record(w, &meter, chrono::Utc::now()))
            .await
        {
            tracing::error!(request_id = %asker.request_id, error = %e, "metering an AI call failed");
        }
        outcome
    }
}

/// Who asks: for the meter, the key's associated data and the log.
#[derive(Debug, Clone)]
pub struct Asker {
    pub tenant_id: String,
    pub plugin: String,
    pub request_id: String,
}
