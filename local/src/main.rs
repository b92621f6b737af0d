//! The one-machine runner: every aftersales API route, and the pages
//! (`/`, with a development sign-in), in one process on 127.0.0.1, with the
//! embedded store in a data folder. Nothing to install
//! but Rust, no AWS account.
//!
//! ```text
//! aftersales-local [serve] [--addr 127.0.0.1:8080] [--data ./data] [--providers FILE] [--dynamodb TABLE] [--webhooks-allow-loopback]
//! aftersales-local token customer <customer_id>
//! aftersales-local token staff <staff_id> <shop_id> [reviewer|admin|finance ...]
//! aftersales-local token storefront <shop_id>
//! ```
//!
//! Tokens are HS256, signed with a development secret kept in
//! `<data>/dev-secret` (made on first use) or taken from
//! `AFTERSALES_DEV_SECRET`.
//!
//! `--dynamodb TABLE` keeps the items in that DynamoDB table instead of
//! the embedded store (the AWS configuration comes from the environment:
//! `AWS_ENDPOINT_URL` for moto or LocalStack); the data folder still holds
//! the secret, the files and the sandboxes' journals. The browser tests run
//! the pages this way too, so they hold on both engines.
//!
//! Refunds go to the notifying sandbox, except on the channels of real
//! payment providers configured as on Lambda (`WECHATPAY_CONFIG`,
//! `ALIPAY_CONFIG`, `ALIPAY_PAYOUT_CONFIG`, `STRIPE_CONFIG`, each the
//! provider's JSON) or in the file `--providers` names
//! (`AFTERSALES_PROVIDERS`): `{"wechat_pay": {...}, "alipay": {...},
//! "alipay_payout": {...}, "stripe": {...}}`. Their webhooks
//! (`/v1/webhooks/wechat_pay`, `alipay`, `alipay_payout`, `stripe`) then
//! verify and settle refunds.

use aftersales::api::AppState;
use aftersales::app::Services;
use aftersales::auth::{AuthMode, DevKeys, StaffRole};
use aftersales::onebox;
use aftersales::providers::sandbox::LoopbackError;
use aftersales::providers::{ConfigError, ProviderConfigs, ProviderSet, Verifiers};
use aftersales::store::dynamodb::DynamoTable;
use aftersales::store::sqlite::SqliteTable;
use aftersales::store::{StoreError, Table};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str = "usage:
  aftersales-local [serve] [--addr 127.0.0.1:8080] [--data ./data] [--providers FILE] [--dynamodb TABLE]
  aftersales-local token customer <customer_id> [--data ./data]
  aftersales-local token staff <staff_id> <shop_id> [reviewer|admin|finance ...] [--data ./data]
  aftersales-local token storefront <shop_id> [--data ./data]";

struct Options {
    addr: String,
    data: PathBuf,
    /// Real payment providers' configuration (JSON), besides the
    /// environment's.
    providers: Option<PathBuf>,
    /// The DynamoDB table to keep items in, instead of the embedded store.
    dynamodb: Option<String>,
    /// Shops' webhook endpoints may be on this machine (tests only:
    /// otherwise loopback URLs are refused like private ones).
    webhooks_allow_loopback: bool,
    rest: Vec<String>,
}

/// Why the runner stops; printed, then a failing exit status.
#[derive(Debug)]
enum Failure {
    /// `-h` or `--help`: the usage alone.
    Help,
    /// A flag without its value (the message names the flag).
    NoValue(&'static str),
    /// A command or arguments not understood: the usage.
    Usage,
    UnknownRole(String),
    /// The real providers' configuration, as a whole.
    Providers(ConfigError),
    /// A provider configured both in the environment and in this file.
    ProvidersTwice {
        source: ConfigError,
        file: PathBuf,
    },
    ProvidersUnreadable {
        file: PathBuf,
        source: std::io::Error,
    },
    ProvidersNotJson {
        file: PathBuf,
        source: serde_json::Error,
    },
    /// What could not be done (`cannot create ...`), and why.
    Io {
        doing: String,
        source: std::io::Error,
    },
    Store {
        db: PathBuf,
        source: StoreError,
    },
    Sandbox(LoopbackError),
    /// Serving stopped with this error.
    Serve(std::io::Error),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Help => Ok(()),
            Failure::NoValue(what) => f.write_str(what),
            Failure::Usage => f.write_str(USAGE),
            Failure::UnknownRole(role) => write!(f, "unknown staff role {role}"),
            Failure::Providers(e) => write!(f, "{e}"),
            Failure::ProvidersTwice { source, file } => {
                write!(f, "{source} (environment and {})", file.display())
            }
            Failure::ProvidersUnreadable { file, source } => {
                write!(f, "cannot read {}: {source}", file.display())
            }
            Failure::ProvidersNotJson { file, source } => {
                write!(f, "{}: {source}", file.display())
            }
            Failure::Io { doing, source } => write!(f, "{doing}: {source}"),
            Failure::Store { db, source } => write!(f, "cannot open {}: {source}", db.display()),
            Failure::Sandbox(e) => write!(f, "{e}"),
            Failure::Serve(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Failure::Help | Failure::NoValue(_) | Failure::Usage | Failure::UnknownRole(_) => None,
            Failure::Providers(e) | Failure::ProvidersTwice { source: e, .. } => Some(e),
            Failure::ProvidersUnreadable { source, .. }
            | Failure::Io { source, .. }
            | Failure::Serve(source) => Some(source),
            Failure::ProvidersNotJson { source, .. } => Some(source),
            Failure::Store { source, .. } => Some(source),
            Failure::Sandbox(e) => Some(e),
        }
    }
}

fn parse_args() -> Result<Options, Failure> {
    let mut o = Options {
        addr: std::env::var("AFTERSALES_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into()),
        data: std::env::var("AFTERSALES_DATA")
            .map_or_else(|_| PathBuf::from("data"), PathBuf::from),
        providers: std::env::var_os("AFTERSALES_PROVIDERS").map(PathBuf::from),
        dynamodb: None,
        webhooks_allow_loopback: false,
        rest: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => {
                o.addr = args
                    .next()
                    .ok_or(Failure::NoValue("--addr needs a value"))?
            }
            "--data" => {
                o.data = PathBuf::from(
                    args.next()
                        .ok_or(Failure::NoValue("--data needs a value"))?,
                )
            }
            "--providers" => {
                o.providers = Some(PathBuf::from(
                    args.next()
                        .ok_or(Failure::NoValue("--providers needs a file"))?,
                ))
            }
            "--dynamodb" => {
                o.dynamodb = Some(
                    args.next()
                        .ok_or(Failure::NoValue("--dynamodb needs a table name"))?,
                )
            }
            "--webhooks-allow-loopback" => o.webhooks_allow_loopback = true,
            "-h" | "--help" => return Err(Failure::Help),
            _ => o.rest.push(a),
        }
    }
    Ok(o)
}

/// The development signing secret: from the environment, or kept in the
/// data folder so tokens survive restarts.
fn dev_secret(data: &Path) -> std::io::Result<Vec<u8>> {
    if let Ok(s) = std::env::var("AFTERSALES_DEV_SECRET") {
        return Ok(s.into_bytes());
    }
    std::fs::create_dir_all(data)?;
    let path = data.join("dev-secret");
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().as_bytes().to_vec()),
        _ => {
            let secret = format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            );
            std::fs::write(&path, &secret)?;
            Ok(secret.into_bytes())
        }
    }
}

fn token(keys: &DevKeys, rest: &[String]) -> Result<String, Failure> {
    const DAY: i64 = 24 * 3600;
    match rest {
        [kind, id] if kind == "customer" => Ok(keys.mint("customer", id, None, &[], DAY)),
        [kind, shop] if kind == "storefront" => Ok(keys.mint(
            "storefront",
            &format!("storefront-{shop}"),
            Some(shop),
            &[],
            DAY,
        )),
        [kind, id, shop, roles @ ..] if kind == "staff" => {
            let roles = if roles.is_empty() {
                vec!["reviewer".to_string()]
            } else {
                roles.to_vec()
            };
            let roles = roles
                .iter()
                .map(|r| match r.as_str() {
                    "reviewer" => Ok(StaffRole::Reviewer),
                    "admin" => Ok(StaffRole::Admin),
                    "finance" => Ok(StaffRole::Finance),
                    other => Err(Failure::UnknownRole(other.to_owned())),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(keys.mint("staff", id, Some(shop), &roles, DAY))
        }
        _ => Err(Failure::Usage),
    }
}

/// The real payment providers: the environment's (the variables Lambda
/// reads) and the `--providers` file's; a provider in both is an error.
fn real_providers(o: &Options) -> Result<(ProviderSet, Verifiers), Failure> {
    let mut configs = ProviderConfigs::from_env().map_err(Failure::Providers)?;
    if let Some(path) = &o.providers {
        let text =
            std::fs::read_to_string(path).map_err(|source| Failure::ProvidersUnreadable {
                file: path.clone(),
                source,
            })?;
        let file: ProviderConfigs =
            serde_json::from_str(&text).map_err(|source| Failure::ProvidersNotJson {
                file: path.clone(),
                source,
            })?;
        configs = configs
            .merge(file)
            .map_err(|source| Failure::ProvidersTwice {
                source,
                file: path.clone(),
            })?;
    }
    configs.build().map_err(Failure::Providers)
}

async fn serve(o: &Options, keys: DevKeys, secret: &[u8]) -> Result<(), Failure> {
    // Before anything is opened: a provider configured wrongly stops the
    // runner at once, not at the first refund.
    let real = real_providers(o)?;
    std::fs::create_dir_all(&o.data).map_err(|source| Failure::Io {
        doing: format!("cannot create {}", o.data.display()),
        source,
    })?;
    let table: Arc<dyn Table> = match &o.dynamodb {
        Some(name) => Arc::new(DynamoTable::from_env(name.clone()).await),
        None => {
            let db = o.data.join("aftersales.db");
            Arc::new(SqliteTable::open(&db).map_err(|source| Failure::Store {
                db: db.clone(),
                source,
            })?)
        }
    };
    let listener = tokio::net::TcpListener::bind(&o.addr)
        .await
        .map_err(|source| Failure::Io {
            doing: format!("cannot listen on {}", o.addr),
            source,
        })?;
    let addr = listener.local_addr().map_err(Failure::Serve)?;
    let mut services = Services::new(table);
    // Each committed outbox event wakes the poller (quiet runner: an event
    // is delivered within milliseconds, not at the next 100 ms look).
    let bell = onebox::with_outbox_bell(&mut services);
    // Refunds on the channels of configured real providers go to them, and
    // their signed notifications are verified at their webhooks as on
    // Lambda. Every other channel goes to the sandbox provider: it accepts
    // refunds ("refund sent"), then posts its signed result to our own
    // webhook a second later ("refund arrived"); an amount ending in .13 is
    // declined. The sandbox's webhook key is derived from the dev secret.
    let real_names: Vec<String> = real.1.iter().map(|(name, _)| name.clone()).collect();
    let sandbox = onebox::with_providers(
        &mut services,
        &format!("http://{addr}"),
        &[b"webhooks:".as_slice(), secret].concat(),
        Duration::from_secs(1),
        real,
    )
    .map_err(Failure::Sandbox)?;
    // Like a real provider, the sandbox knows every refund it ever took
    // (by out-refund number) across restarts of the runner.
    let journal = o.data.join("sandbox-refunds.jsonl");
    sandbox
        .remember_in(&journal)
        .map_err(|source| Failure::Io {
            doing: format!("cannot keep sandbox refunds in {}", journal.display()),
            source,
        })?;
    // Return parcels are tracked by the sandbox courier: a tracking number
    // is picked up, travels and is delivered a minute a stage, pushed to
    // our own courier callback as Kuaidi100 would (numbers ending 0000 are
    // never picked up, 9999 go elsewhere, 2222 get stuck). Its push salt is
    // derived from the dev secret.
    let courier = onebox::with_sandbox_courier(
        &mut services,
        &format!("http://{addr}"),
        &format!("couriers:{}", String::from_utf8_lossy(secret)),
        Some(Duration::from_secs(60)),
    );
    // Appliance claims ask the sandbox installer for installation records.
    let _installer = onebox::with_sandbox_installer(&mut services);
    tokio::spawn(onebox::run_sandbox_courier_pushes(
        courier,
        Duration::from_secs(5),
    ));
    // Voucher codes are checked with the sandbox issuer: unused unless they
    // start with USED-.
    onebox::with_sandbox_vouchers(&mut services);
    // Customs claims ask the sandbox clearance service: declarations
    // starting FAIL- failed clearance, RET- are back with the seller.
    // Its pushes are signed with a secret derived from the dev secret.
    onebox::with_sandbox_clearance(&mut services, &[b"clearance:".as_slice(), secret].concat());
    // Text messages land in a file instead of phones: `tail -f data/sms.jsonl`.
    services.sms = Arc::new(aftersales::adapters::sms_file::FileSms::new(
        o.data.join("sms.jsonl"),
    ));
    // Upload URLs are signed with a key derived from the dev secret, so
    // tokens and upload URLs can never be swapped for each other.
    let upload_secret = [b"uploads:".as_slice(), secret].concat();
    let uploads = onebox::with_local_evidence(
        &mut services,
        o.data.join("files"),
        &format!("http://{addr}"),
        &upload_secret,
    );
    tokio::spawn(onebox::run_outbox_poller(
        services.clone(),
        bell,
        Duration::from_millis(100),
    ));
    // Shops' webhooks: the sender tries due deliveries every 200 ms, each
    // endpoint in its own task.
    aftersales::hooks::allow_loopback(o.webhooks_allow_loopback);
    tokio::spawn(aftersales::hooks::sender::run(
        services.table.clone(),
        services.clock.clone(),
        // Secrets are stored plain in the runner's own file.
        None,
        Duration::from_millis(200),
    ));
    let state = AppState {
        services,
        auth: AuthMode::Hs256(Box::new(keys)),
    };
    tracing::info!(%addr, data = %o.data.display(), "aftersales is listening");
    println!(
        "aftersales listening on http://{addr} (data in {})",
        o.data.display()
    );
    if !real_names.is_empty() {
        println!(
            "real payment providers: {} (webhooks /v1/webhooks/<name>)",
            real_names.join(", ")
        );
    }
    // The pages at `/`, with the development sign-in (tokens for anyone:
    // the runner only).
    let pages = aftersales::web::router(aftersales::web::WebState {
        services: state.services.clone(),
        auth: state.auth.clone(),
        dev_sign_in: true,
    });
    println!("pages: http://{addr}/ (sign in at http://{addr}/sign-in)");
    axum::serve(listener, onebox::app(state, Some(uploads)).merge(pages))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(Failure::Serve)
}

#[tokio::main]
async fn main() -> ExitCode {
    aftersales::telemetry::init(false);
    let o = match parse_args() {
        Ok(o) => o,
        Err(Failure::Help) => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (keys, secret) = match dev_secret(&o.data) {
        Ok(s) => (DevKeys::new(&s), s),
        Err(e) => {
            eprintln!("cannot read or create the development secret: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match o.rest.first().map(String::as_str) {
        None | Some("serve") => serve(&o, keys, &secret).await,
        Some("token") => token(&keys, &o.rest[1..]).map(|t| println!("{t}")),
        Some(_) => Err(Failure::Usage),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
