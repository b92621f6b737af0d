//! Logging: JSON lines for CloudWatch, plain text on a terminal.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber once. `RUST_LOG` filters by level and
/// target (`info`, `warn,aftersales=debug`; default and when unreadable:
/// `info`); `json` picks JSON lines, as Lambda's JSON log format expects.
/// Targets, not `EnvFilter`: its span and field filters would bring a
/// regex engine into every function (close to a megabyte of each binary)
/// for filters nobody sets on a Lambda.
pub fn init(json: bool) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let builder = tracing_subscriber::fmt().with_target(false);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .without_time()
            .finish()
            .with(filter)
            .try_init()
    } else {
        builder.finish().with(filter).try_init()
    };
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::filter::Targets;

    #[test]
    fn rust_log_directives_read_as_targets() {
        let t: Targets = "warn,aftersales=debug".parse().unwrap();
        assert!(t.would_enable("aftersales::app", &tracing::Level::DEBUG));
        assert!(!t.would_enable("hyper", &tracing::Level::INFO));
        assert!(t.would_enable("hyper", &tracing::Level::WARN));
    }
}
