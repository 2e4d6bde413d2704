//! nm-mptcp: NetworkManager's `connection.mptcp-flags` made into kernel MPTCP endpoints,
//! with NetworkManager's own rules, from a dispatcher hook or a resident daemon.
//!
//! Functional core, imperative shell. The core is the `nm-mptcp-core` crate (pure: it
//! depends on no adapter, and the compiler holds it to that); this crate is the shell:
//! `adapters` (D-Bus, netlink, /proc, files, the control socket), `app` (carrying out
//! reconciliations, the daemon, the watcher) and `commands` (one thin module per
//! subcommand), with the command line in `cli`. docs/architecture.md draws the arrows.

pub mod cli;

mod adapters;
mod app;
mod commands;

use std::ffi::OsString;
use std::process::ExitCode;

use tracing::level_filters::LevelFilter;

// The core's modules, named as if they were this crate's own.
use nm_mptcp_core::{
    changes, config, diff, error, flags, limits, model, modified, nm_conf, nm_version, nm_view,
    ownership, planner, report, rp_filter, snapshot,
};

use cli::Command;
use error::{Error, ErrorKind};

/// The program: a dispatcher event, or a command for clap.
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let dispatcher_action = std::env::var_os("NM_DISPATCHER_ACTION");
    if let Some(event) = cli::hook_arguments(&args, dispatcher_action.as_deref()) {
        return hook(event, true);
    }
    let cli = match cli::parse(&args) {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    if let Command::Hook(event) = &cli.command {
        return hook(event, false);
    }
    let result = match cli.command {
        Command::CheckConfig => commands::check_config::run(),
        command => {
            logging(matches!(command, Command::Daemon));
            runtime().and_then(|runtime| {
                runtime.block_on(async {
                    match command {
                        Command::Reconcile => commands::reconcile::run().await,
                        Command::Release => commands::release::run().await,
                        Command::Plan(output) => commands::plan::run(output.json).await,
                        Command::Status(output) => commands::status::run(output.json).await,
                        Command::Watch { seconds } => commands::watch::run(seconds).await,
                        Command::Daemon => commands::daemon::run().await,
                        Command::CheckConfig | Command::Hook(_) => unreachable!("handled above"),
                    }
                })
            })
        }
    };
    exit(result)
}

/// A dispatcher event: handed to a running daemon before any runtime or logging starts
/// (most of the hook's cost is starting up), else handled here. `from_dispatcher`: run by
/// nm-dispatcher (or as its script), not typed by hand.
fn hook(args: &[OsString], from_dispatcher: bool) -> ExitCode {
    let event = match adapters::dispatcher::parse(args) {
        Ok(event) => event,
        Err(e) => return exit(Err(e)),
    };
    let why_alone = match commands::hook::answer_without_runtime(&event) {
        adapters::control::Forwarded::Answered(verdict) => return exit(verdict),
        adapters::control::Forwarded::Alone(why) => why,
    };
    logging(true);
    if let Some(why) = why_alone {
        tracing::warn!("{why}; working alone");
    }
    exit(
        runtime()
            .and_then(|runtime| runtime.block_on(commands::hook::run(&event, from_dispatcher))),
    )
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::new(ErrorKind::State, format!("cannot start: {e}")))
}

/// The hook and the daemon log what they change; commands print their results instead.
fn logging(informative: bool) {
    app::logging::init(if informative {
        LevelFilter::INFO
    } else {
        LevelFilter::WARN
    });
}

/// Errors are one line on stderr; usage errors add the usage.
fn exit(result: Result<(), Error>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("nm-mptcp: {}", report::terminal_safe(&error.message));
            if error.kind == ErrorKind::Usage {
                eprintln!(
                    "\nUsage: {}\nFor more information, try '--help'.",
                    cli::HOOK_USAGE
                );
            }
            ExitCode::from(error.kind.exit_code())
        }
    }
}

/// `--help` and `--version` print and succeed; other clap errors are usage errors in
/// nm-mptcp's own format.
fn clap_exit(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind as Clap;
    match error.kind() {
        Clap::DisplayHelp | Clap::DisplayVersion => exit(commands::emit(&error.to_string())),
        Clap::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprint!(
                "nm-mptcp: a command or a dispatcher event (IFACE ACTION) is needed\n\n{error}"
            );
            ExitCode::from(ErrorKind::Usage.exit_code())
        }
        _ => {
            let text = error.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            eprint!("nm-mptcp: {text}");
            ExitCode::from(ErrorKind::Usage.exit_code())
        }
    }
}
