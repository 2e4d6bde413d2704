//! The program's entry: a dispatcher event, or a command for clap; errors as one line and an
//! exit status.

use std::ffi::OsString;
use std::process::ExitCode;

use tracing::level_filters::LevelFilter;

use crate::app::context::Context;
use crate::cli::{self, Command};
use nm_mptcp_core::error::{Error, ErrorKind};

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
        Command::CheckConfig => crate::commands::check_config::run(&Context::from_environment()),
        command => {
            logging(matches!(command, Command::Daemon));
            // After logging starts: an odd NM_MPTCP_RUN_DIR is worth a warning.
            let context = Context::from_environment();
            runtime().and_then(|runtime| {
                runtime.block_on(async {
                    match command {
                        Command::Reconcile => crate::commands::reconcile::run(&context).await,
                        Command::Release => crate::commands::release::run(&context).await,
                        Command::Resume => crate::commands::resume::run(&context),
                        Command::Plan(output) => {
                            crate::commands::plan::run(&context, output.json).await
                        }
                        Command::Status(output) => {
                            crate::commands::status::run(&context, output.json).await
                        }
                        Command::Metrics { textfile } => {
                            crate::commands::metrics::run(&context, textfile.as_deref()).await
                        }
                        Command::Watch { seconds } => {
                            crate::commands::watch::run(&context, seconds).await
                        }
                        Command::Daemon => crate::commands::daemon::run(&context).await,
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
    let context = &Context::from_environment();
    let event = match crate::adapters::dispatcher::parse(args) {
        Ok(event) => event,
        Err(e) => return exit(Err(e)),
    };
    let why_alone = match crate::commands::hook::answer_without_runtime(context, &event) {
        crate::adapters::control::Forwarded::Answered(verdict) => return exit(verdict),
        crate::adapters::control::Forwarded::Alone(why) => why,
    };
    logging(true);
    if let Some(why) = why_alone {
        tracing::warn!("{why}; working alone");
    }
    exit(runtime().and_then(|runtime| {
        runtime.block_on(crate::commands::hook::run(context, &event, from_dispatcher))
    }))
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::new(ErrorKind::State, format!("cannot start: {e}")))
}

/// The hook and the daemon log what they change; commands print their results instead.
fn logging(informative: bool) {
    crate::app::logging::init(if informative {
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
            eprintln!(
                "nm-mptcp: {}",
                nm_mptcp_core::escape::terminal_safe(&error.message)
            );
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
        Clap::DisplayHelp | Clap::DisplayVersion => exit(crate::commands::emit(&error.to_string())),
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
