//! Partner configurations on Lambda — the payment providers, Kuaidi100, the
//! voucher issuer, the installer network, the clearance service — read at
//! run time from AWS Secrets Manager, never put in the environment.
//!
//! Each configuration's variable (`WECHATPAY_CONFIG`, ..., [`CONFIG_VARS`])
//! has a twin, `<NAME>_SECRET_ID` (`WECHATPAY_SECRET_ID`, ...), naming the
//! secret that holds the same JSON. The text is read at the first event
//! that needs the function's adapters, not during init (a cold start pays
//! for no secret it may not use, and a function without such variables
//! never builds the client), then kept for `SECRETS_TTL_SECONDS` (300 by
//! default): a key put as a new secret version is used within that time,
//! without a deploy. The adapters are rebuilt only when a text changed.
//!
//! Local runs (`cargo lambda watch`, `sam local`) may give the JSON itself in
//! `<NAME>_CONFIG`, as the runner does; one configuration from both is
//! refused.

use crate::app::Services;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The variables holding a partner's JSON configuration, in the order
/// [`configure`] applies them.
pub const CONFIG_VARS: [&str; 8] = [
    crate::providers::ProviderConfigs::VARS[0],
    crate::providers::ProviderConfigs::VARS[1],
    crate::providers::ProviderConfigs::VARS[2],
    crate::providers::ProviderConfigs::VARS[3],
    crate::couriers::kuaidi100::CONFIG_VAR,
    crate::vouchers::http::CONFIG_VAR,
    crate::installers::http::CONFIG_VAR,
    crate::clearance::http::CONFIG_VAR,
];

/// How long a secret's text is used before it is read again, unless
/// `SECRETS_TTL_SECONDS` says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// The variable naming the secret for a configuration variable:
/// `WECHATPAY_CONFIG` → `WECHATPAY_SECRET_ID`.
pub fn secret_var(config_var: &str) -> String {
    format!("{}_SECRET_ID", config_var.trim_end_matches("_CONFIG"))
}

/// Why a function cannot use its partners' configuration. Returned by the
/// event that needed it (the runtime reports it; the next event tries
/// again), never a panic.
#[derive(Debug, thiserror::Error)]
pub enum PartnersError {
    #[error("{var}: secret {id} cannot be read: {reason}")]
    Unreadable {
        var: String,
        id: String,
        reason: String,
    },
    #[error("{0} and {1} are both set: give the configuration one way")]
    Twice(&'static str, String),
    #[error("SECRETS_TTL_SECONDS: not a number of seconds: {0:?}")]
    Ttl(String),
    /// A configuration that is read but cannot be used.
    #[error("{0}")]
    Invalid(String),
}

/// Where a secret's text comes from: Secrets Manager, or a test's stand-in.
#[async_trait::async_trait]
pub trait SecretSource: Send + Sync {
    async fn read(&self, id: &str) -> Result<String, String>;
}

/// Secrets Manager's `GetSecretValue`; the client is built at the first
/// read (credentials, region and `AWS_ENDPOINT_URL` as every SDK client).
#[derive(Default)]
pub struct SecretsManager {
    client: tokio::sync::OnceCell<aws_sdk_secretsmanager::Client>,
}

impl SecretsManager {
    pub fn with_client(client: aws_sdk_secretsmanager::Client) -> Self {
        SecretsManager {
            client: tokio::sync::OnceCell::new_with(Some(client)),
        }
    }
}

#[async_trait::async_trait]
impl SecretSource for SecretsManager {
    async fn read(&self, id: &str) -> Result<String, String> {
        let client = self
            .client
            .get_or_init(|| async {
                let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .load()
                    .await;
                aws_sdk_secretsmanager::Client::new(&config)
            })
            .await;
        let answer = client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())?;
        answer
            .secret_string
            .ok_or_else(|| "it holds binary data, not the configuration's JSON text".to_owned())
    }
}

/// Secrets' texts by id, each read again once older than the TTL.
pub struct SecretCache {
    source: Arc<dyn SecretSource>,
    ttl: Duration,
    texts: Mutex<HashMap<String, (Instant, String)>>,
}

impl SecretCache {
    pub fn new(source: Arc<dyn SecretSource>, ttl: Duration) -> Self {
        SecretCache {
            source,
            ttl,
            texts: Mutex::new(HashMap::new()),
        }
    }

    /// The secret's text: the one read less than the TTL ago, or a fresh
    /// read. A failed read is not kept (the next call tries again).
    pub async fn get(&self, id: &str) -> Result<String, String> {
        if let Some((at, text)) = self.lock().get(id) {
            if at.elapsed() < self.ttl {
                return Ok(text.clone());
            }
        }
        // Not locked across the read: two events racing read twice, which
        // is harmless, rather than one waiting on the other's network call.
        let text = self.source.read(id).await?;
        self.lock()
            .insert(id.to_owned(), (Instant::now(), text.clone()));
        Ok(text)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, String)>> {
        // The map holds no invariant a panicking holder could break.
        self.texts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Where one configuration comes from.
#[derive(Debug, Clone)]
enum Origin {
    Secret(String),
    Text(String),
}

/// Which configurations a function has, from its variables.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    origins: Vec<(&'static str, Origin)>,
    ttl: Option<Duration>,
}

impl Settings {
    pub fn from_env() -> Result<Self, PartnersError> {
        Self::from_vars(|var| std::env::var(var).ok())
    }

    /// The settings `value` gives (the environment, or a test's map); unset
    /// and blank variables are absent.
    pub fn from_vars(value: impl Fn(&str) -> Option<String>) -> Result<Self, PartnersError> {
        let set = |var: &str| value(var).filter(|v| !v.trim().is_empty());
        let mut origins = Vec::new();
        for var in CONFIG_VARS {
            let secret = secret_var(var);
            match (set(&secret), set(var)) {
                (Some(_), Some(_)) => return Err(PartnersError::Twice(var, secret)),
                (Some(id), None) => origins.push((var, Origin::Secret(id.trim().to_owned()))),
                (None, Some(text)) => origins.push((var, Origin::Text(text))),
                (None, None) => {}
            }
        }
        let ttl = match set("SECRETS_TTL_SECONDS") {
            None => None,
            Some(v) => Some(Duration::from_secs(
                v.trim().parse().map_err(|_| PartnersError::Ttl(v))?,
            )),
        };
        Ok(Settings { origins, ttl })
    }

    /// Whether any configuration is read from Secrets Manager.
    pub fn reads_secrets(&self) -> bool {
        self.origins
            .iter()
            .any(|(_, o)| matches!(o, Origin::Secret(_)))
    }

    pub fn ttl(&self) -> Duration {
        self.ttl.unwrap_or(DEFAULT_TTL)
    }
}

/// What a function serves with (its services, its router...), built from
/// the services without partners plus the partners' current configuration,
/// and built again when a secret's text changed.
pub struct Partners<T> {
    base: Services,
    settings: Settings,
    cache: SecretCache,
    build: Box<dyn Fn(Services) -> T + Send + Sync>,
    built: Mutex<Option<(Vec<String>, Arc<T>)>>,
}

impl<T> Partners<T> {
    /// The function's settings from its environment, secrets from Secrets
    /// Manager. Reads nothing yet.
    pub fn from_env(
        base: Services,
        build: impl Fn(Services) -> T + Send + Sync + 'static,
    ) -> Result<Self, PartnersError> {
        let settings = Settings::from_env()?;
        let cache = SecretCache::new(Arc::new(SecretsManager::default()), settings.ttl());
        Ok(Self::new(base, settings, cache, build))
    }

    pub fn new(
        base: Services,
        settings: Settings,
        cache: SecretCache,
        build: impl Fn(Services) -> T + Send + Sync + 'static,
    ) -> Self {
        Partners {
            base,
            settings,
            cache,
            build: Box::new(build),
            built: Mutex::new(None),
        }
    }

    /// What to serve this event with: the configurations' current texts
    /// (secrets from the cache), built into `T` — the same `T` as before
    /// while no text changed.
    pub async fn current(&self) -> Result<Arc<T>, PartnersError> {
        let mut texts = Vec::with_capacity(self.settings.origins.len());
        for (var, origin) in &self.settings.origins {
            texts.push(match origin {
                Origin::Text(text) => text.clone(),
                Origin::Secret(id) => {
                    self.cache
                        .get(id)
                        .await
                        .map_err(|reason| PartnersError::Unreadable {
                            var: secret_var(var),
                            id: id.clone(),
                            reason,
                        })?
                }
            });
        }
        if let Some((same, built)) = &*self.lock() {
            if *same == texts {
                return Ok(built.clone());
            }
        }
        let mut services = self.base.clone();
        configure(&mut services, |var| {
            let i = self.settings.origins.iter().position(|(v, _)| *v == var)?;
            Some(texts[i].clone())
        })?;
        let built = Arc::new((self.build)(services));
        *self.lock() = Some((texts, built.clone()));
        Ok(built)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Vec<String>, Arc<T>)>> {
        self.built.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Sets the partners' adapters on `services` from their configurations'
/// texts ([`CONFIG_VARS`], as `text` gives them; absent: that partner is
/// off). A configuration present but wrong is an error.
pub fn configure(
    services: &mut Services,
    text: impl Fn(&'static str) -> Option<String>,
) -> Result<(), PartnersError> {
    let invalid = |e: &dyn std::fmt::Display| PartnersError::Invalid(e.to_string());
    let (providers, verifiers) = crate::providers::ProviderConfigs::from_vars(&text)
        .and_then(|c| c.build())
        .map_err(|e| invalid(&e))?;
    services.providers = providers;
    services.verifiers = verifiers;
    // Courier tracking (the courier function): queries, subscriptions and
    // push verification.
    let kuaidi100 = text(crate::couriers::kuaidi100::CONFIG_VAR);
    if let Some(k) = crate::couriers::kuaidi100::Kuaidi100::from_config(kuaidi100.as_deref())
        .map_err(|e| invalid(&e))?
    {
        services.courier_salt = Some(k.salt().to_owned());
        services.courier_callback_url = k.callback_url().map(str::to_owned);
        services.courier = Some(Arc::new(k));
    }
    // The voucher issuer (the rule evaluation asks it about virtual goods'
    // codes).
    let vouchers = text(crate::vouchers::http::CONFIG_VAR);
    if let Some(v) = crate::vouchers::http::HttpVouchers::from_config(vouchers.as_deref())
        .map_err(|e| invalid(&e))?
    {
        services.vouchers = Some(Arc::new(v));
    }
    // Installation records (the rule evaluation function).
    let installer = text(crate::installers::http::CONFIG_VAR);
    if let Some(i) = crate::installers::http::HttpInstaller::from_config(installer.as_deref())
        .map_err(|e| invalid(&e))?
    {
        services.installer = Some(Arc::new(i));
    }
    // The clearance service: the rule evaluation asks it about customs
    // claims, the courier function checks its pushes with the same secret.
    let clearance = text(crate::clearance::http::CONFIG_VAR);
    if let Some(c) = crate::clearance::http::HttpClearance::from_config(clearance.as_deref())
        .map_err(|e| invalid(&e))?
    {
        services.clearance_secret = Some(c.push_secret().to_vec());
        services.clearance = Some(Arc::new(c));
    }
    Ok(())
}
