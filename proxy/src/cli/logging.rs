//! The proxy's log: text or JSON lines on stdout, filtered the way `RUST_LOG` says.

use crate::config::LogFormat;

/// Logs at `info` unless `RUST_LOG` says otherwise, in its usual shape: a default level
/// and per-module levels, for example `RUST_LOG=info,gatehouse::bridge=debug`.
pub fn init(format: LogFormat) -> anyhow::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref())?;
    let fmt = tracing_subscriber::fmt::layer().with_target(true);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry.with(fmt.json()).init(),
        LogFormat::Text => registry.with(fmt).init(),
    }
    Ok(())
}

fn log_filter(spec: Option<&str>) -> anyhow::Result<tracing_subscriber::filter::Targets> {
    use tracing_subscriber::filter::Targets;
    match spec.map(str::trim).filter(|spec| !spec.is_empty()) {
        None => Ok(Targets::new().with_default(tracing::Level::INFO)),
        Some(spec) => spec.parse().map_err(|err| {
            anyhow::anyhow!("RUST_LOG={spec:?} is not a log filter ({err}); write a level and module levels, for example info,gatehouse::bridge=debug")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;
    use tracing_subscriber::filter::Targets;

    fn level(filter: &Targets, target: &str) -> Option<Level> {
        [Level::TRACE, Level::DEBUG, Level::INFO, Level::WARN, Level::ERROR]
            .into_iter()
            .find(|level| filter.would_enable(target, level))
    }

    #[test]
    fn info_unless_told_otherwise() {
        for spec in [None, Some(""), Some("  ")] {
            let filter = log_filter(spec).expect("the default");
            assert_eq!(level(&filter, "gatehouse::bridge"), Some(Level::INFO));
        }
    }

    #[test]
    fn a_module_can_be_louder_than_the_rest() {
        let filter = log_filter(Some("warn,gatehouse::bridge=debug")).expect("a filter");
        assert_eq!(level(&filter, "gatehouse::bridge"), Some(Level::DEBUG));
        assert_eq!(level(&filter, "gatehouse::http"), Some(Level::WARN));
        assert_eq!(level(&filter, "russh"), Some(Level::WARN));
    }

    #[test]
    fn a_malformed_filter_is_refused_with_an_example() {
        let err = log_filter(Some("gatehouse=loud")).expect_err("not a level").to_string();
        assert!(err.contains("gatehouse=loud") && err.contains("for example"), "{err}");
    }
}
