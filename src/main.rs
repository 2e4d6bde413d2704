use std::process::ExitCode;

use nm_mptcp::commands;
use nm_mptcp::error::Error;
use tracing::level_filters::LevelFilter;

const USAGE: &str = "\
nm-mptcp: NetworkManager connection.mptcp-flags -> kernel MPTCP endpoints

Usage:
  nm-mptcp IFACE ACTION      dispatcher hook (run by NetworkManager-dispatcher)
  nm-mptcp reconcile         apply the whole host once
  nm-mptcp plan [--json]     show what would be done and why, changing nothing
  nm-mptcp watch [--for S]   reconcile on address changes until addresses settle (default
                             60 s); the hook starts it when SLAAC, DHCPv6 or DAD is pending
  nm-mptcp daemon            stay resident: follow NetworkManager and the kernel, keep the
                             endpoints reconciled, take the hook's events (much faster)
  nm-mptcp status [--json]   endpoints, owners, limits and why each address is or is not one
  nm-mptcp check-config      validate /etc/nm-mptcp/config.toml (NM_MPTCP_CONFIG), change nothing
  nm-mptcp --version | --help

Exit status: 0 ok, 2 usage, 3 NetworkManager/D-Bus, 4 kernel, 5 state dir, 6 busy, 7 config.
Log level: NM_MPTCP_LOG=error|warn|info|debug|trace.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let first = args.first().map(String::as_str);
    match first {
        Some("--version" | "-V") => {
            println!("nm-mptcp {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some("--help" | "-h") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let hook = !matches!(
        first,
        Some("reconcile" | "plan" | "watch" | "daemon" | "status" | "check-config")
    );
    if hook {
        match commands::hook::answer_without_runtime(&args) {
            Some(Ok(())) => return ExitCode::SUCCESS,
            Some(Err(e)) => return fail(&e),
            None => {}
        }
    }
    logging(hook || first == Some("daemon"));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return fail(&Error::new(
                nm_mptcp::error::ErrorKind::State,
                format!("cannot start: {e}"),
            ))
        }
    };
    let result = runtime.block_on(async {
        match first {
            Some("reconcile") if args.len() == 1 => commands::reconcile::run().await,
            Some("reconcile") => Err(Error::usage("reconcile takes no arguments")),
            Some("plan") => commands::plan::run(&args[1..]).await,
            Some("watch") => commands::watch::run(&args[1..]).await,
            Some("daemon") => commands::daemon::run(&args[1..]).await,
            Some("status") => commands::status::run(&args[1..]).await,
            Some("check-config") => commands::check_config::run(&args[1..]),
            _ => commands::hook::run(&args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// The hook and the daemon log what they change; commands print their results instead.
fn logging(informative: bool) {
    nm_mptcp::logging::init(if informative {
        LevelFilter::INFO
    } else {
        LevelFilter::WARN
    });
}

fn fail(error: &Error) -> ExitCode {
    eprintln!("nm-mptcp: {error}");
    if error.kind == nm_mptcp::error::ErrorKind::Usage {
        eprint!("\n{USAGE}");
    }
    ExitCode::from(error.kind.exit_code())
}
