//! Logging with tracing: to journald when it runs, else to stderr (which nm-dispatcher logs).

use std::path::Path;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

const JOURNALD_SOCKET: &str = "/run/systemd/journal/socket";

/// Set up logging once. `NM_MPTCP_LOG` picks the level (error, warn, info, debug, trace).
pub fn init(default: LevelFilter) {
    let level = std::env::var("NM_MPTCP_LOG")
        .ok()
        .and_then(|v| v.parse::<LevelFilter>().ok())
        .unwrap_or(default);
    let journald = Path::new(JOURNALD_SOCKET)
        .exists()
        .then(tracing_journald::layer)
        .and_then(Result::ok);
    let registry = tracing_subscriber::registry();
    match journald {
        Some(layer) => registry.with(layer.with_filter(level)).init(),
        None => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(false)
                    .without_time()
                    .with_target(false)
                    .with_filter(level),
            )
            .init(),
    }
}
