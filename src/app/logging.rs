//! Logging with tracing: to journald when it runs, else to stderr (which nm-dispatcher logs).

use std::io::Write;
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
                    .with_writer(|| EscapingStderr)
                    .with_ansi(false)
                    .without_time()
                    .with_target(false)
                    .with_filter(level),
            )
            .init(),
    }
}

/// Stderr that escapes control characters inside each log line: names from outside
/// (profiles, interfaces) are escaped where they are formatted, and this holds for any
/// that are not, so a log line can never move a terminal's cursor or fake another line.
struct EscapingStderr;

impl Write for EscapingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stderr().write_all(safe_line(&String::from_utf8_lossy(buf)).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// One formatted log line with its control characters escaped, its final newline kept.
fn safe_line(text: &str) -> String {
    match text.strip_suffix('\n') {
        Some(line) => format!("{}\n", nm_mptcp_core::escape::terminal_safe(line)),
        None => nm_mptcp_core::escape::terminal_safe(text),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_lines_keep_their_end_and_lose_their_control_characters() {
        let safe = super::safe_line("INFO applied add 10.0.0.2 dev a\u{1b}[31mX\nWARN fake\n");
        assert_eq!(safe.matches('\n').count(), 1);
        assert!(safe.ends_with('\n'));
        assert!(!safe.contains('\u{1b}'), "{safe}");
    }
}
