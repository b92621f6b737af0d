//! Partner keys on Lambda come from Secrets Manager at run time (moto here):
//! read at the first use, kept for the TTL (a new secret version is not
//! seen before it runs out, and is seen after), the adapters rebuilt only
//! when a text changed, and a secret that cannot be read is an error that
//! names it, at the first event rather than at init.

use aftersales::domain::order::PaymentChannel;
use aftersales::lambda_secrets::{
    Partners, PartnersError, SecretCache, SecretSource, SecretsManager, Settings,
};
use aftersales::providers::stripe::API_BASE;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&aftersales_tests::moto::sdk_config().await)
}

fn stripe_json(secret_key: &str) -> String {
    serde_json::json!({
        "api_base": API_BASE,
        "secret_key": secret_key,
        "webhook_secret": "whsec_test",
    })
    .to_string()
}

/// A new secret on moto holding `text`; its name.
async fn new_secret(client: &aws_sdk_secretsmanager::Client, text: &str) -> String {
    let name = aftersales_tests::moto::unique_table_name("partner-secret");
    client
        .create_secret()
        .name(&name)
        .secret_string(text)
        .send()
        .await
        .expect("CreateSecret");
    name
}

async fn put_version(client: &aws_sdk_secretsmanager::Client, name: &str, text: &str) {
    client
        .put_secret_value()
        .secret_id(name)
        .secret_string(text)
        .send()
        .await
        .expect("PutSecretValue");
}

fn source(client: aws_sdk_secretsmanager::Client) -> Arc<dyn SecretSource> {
    Arc::new(SecretsManager::with_client(client))
}

fn settings_of(vars: &[(&str, &str)]) -> Result<Settings, PartnersError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_vars(|var| vars.get(var).cloned())
}

fn base_services() -> aftersales::app::Services {
    aftersales::app::Services::new(Arc::new(aftersales_tests::sqlite_table()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_is_read_once_per_ttl() {
    let client = secrets_client().await;
    let name = new_secret(&client, "first").await;

    // Within the TTL the cache does not ask again: moto already holds the
    // new version, the cache still answers the first.
    let long = SecretCache::new(source(client.clone()), Duration::from_secs(3600));
    assert_eq!(long.get(&name).await.unwrap(), "first");
    put_version(&client, &name, "second").await;
    assert_eq!(long.get(&name).await.unwrap(), "first");

    // Once the TTL ran out, the next use reads the new version.
    let short = SecretCache::new(source(client.clone()), Duration::from_millis(1));
    assert_eq!(short.get(&name).await.unwrap(), "second");
    put_version(&client, &name, "third").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(short.get(&name).await.unwrap(), "third");
    // The long-lived cache still has not asked.
    assert_eq!(long.get(&name).await.unwrap(), "first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_come_from_their_secret_and_follow_a_new_version() {
    aftersales::providers::install_crypto_provider();
    let client = secrets_client().await;
    let name = new_secret(&client, &stripe_json("sk_test_first")).await;
    // TTL 0: every event reads the secret, so each new version is seen.
    let settings =
        settings_of(&[("STRIPE_SECRET_ID", &name), ("SECRETS_TTL_SECONDS", "0")]).unwrap();
    assert!(settings.reads_secrets());
    assert_eq!(settings.ttl(), Duration::ZERO);
    let cache = SecretCache::new(source(client.clone()), settings.ttl());
    let partners = Partners::new(base_services(), settings, cache, |s| s);

    let first = partners.current().await.expect("the secret is read");
    let names: Vec<&str> = first.verifiers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["stripe"]);
    assert_eq!(first.providers.channels(), [PaymentChannel::Card]);

    // The same text: the same adapters, not rebuilt.
    let again = partners.current().await.unwrap();
    assert!(Arc::ptr_eq(&first, &again));

    // A rotated key: rebuilt from the new version.
    put_version(&client, &name, &stripe_json("sk_test_second")).await;
    let rotated = partners.current().await.unwrap();
    assert!(!Arc::ptr_eq(&first, &rotated));
    assert_eq!(rotated.verifiers.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_fails_the_first_use_and_names_it() {
    let client = secrets_client().await;
    let settings = settings_of(&[("STRIPE_SECRET_ID", "no-such-secret")]).unwrap();
    let cache = SecretCache::new(source(client.clone()), settings.ttl());
    // Building reads nothing: the cold start does not fail.
    let partners = Partners::new(base_services(), settings, cache, |s| s);
    let e = partners.current().await.err().expect("no such secret");
    assert!(
        matches!(&e, PartnersError::Unreadable { var, id, .. }
            if var == "STRIPE_SECRET_ID" && id == "no-such-secret"),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.starts_with("STRIPE_SECRET_ID: secret no-such-secret cannot be read: ")
            && text.contains("ResourceNotFound"),
        "{text}"
    );

    // A secret that is not the provider's configuration names the variable
    // it stands for.
    let name = new_secret(&client, "{\"not\": \"stripe\"}").await;
    let settings = settings_of(&[("STRIPE_SECRET_ID", &name)]).unwrap();
    let cache = SecretCache::new(source(client), settings.ttl());
    let partners = Partners::new(base_services(), settings, cache, |s| s);
    let e = partners.current().await.err().expect("not a configuration");
    assert!(matches!(e, PartnersError::Invalid(_)), "{e:?}");
    assert!(e.to_string().starts_with("STRIPE_CONFIG: "), "{e}");
}

#[test]
fn settings_take_each_configuration_one_way() {
    // Local runs give the JSON itself; nothing is read from AWS then.
    let local = settings_of(&[("STRIPE_CONFIG", &stripe_json("sk_test_local"))]).unwrap();
    assert!(!local.reads_secrets());
    assert_eq!(local.ttl(), Duration::from_secs(300));

    let twice =
        settings_of(&[("STRIPE_CONFIG", "{}"), ("STRIPE_SECRET_ID", "stripe")]).unwrap_err();
    assert_eq!(
        twice.to_string(),
        "STRIPE_CONFIG and STRIPE_SECRET_ID are both set: give the configuration one way"
    );
    // Blank is unset (the template leaves an unconfigured partner empty).
    assert!(!settings_of(&[("STRIPE_SECRET_ID", " ")])
        .unwrap()
        .reads_secrets());
    assert!(matches!(
        settings_of(&[("SECRETS_TTL_SECONDS", "5m")]),
        Err(PartnersError::Ttl(_))
    ));
}

#[tokio::test]
async fn local_configurations_build_without_secrets_manager() {
    aftersales::providers::install_crypto_provider();
    let settings = settings_of(&[("STRIPE_CONFIG", &stripe_json("sk_test_local"))]).unwrap();
    // A source that would fail any read: none is made.
    struct Unreachable;
    #[async_trait::async_trait]
    impl SecretSource for Unreachable {
        async fn read(&self, id: &str) -> Result<String, String> {
            Err(format!("read {id}"))
        }
    }
    let cache = SecretCache::new(Arc::new(Unreachable), settings.ttl());
    let partners = Partners::new(base_services(), settings, cache, |s| s);
    let services = partners.current().await.expect("built from the variable");
    assert_eq!(services.verifiers.len(), 1);
}
