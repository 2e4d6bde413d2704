//! The command line, declared once with clap: `--help`, the man page and the shell
//! completions (both made by `cargo run -p xtask`) and the README's exit statuses,
//! environment and files all come from here.
//!
//! Hook mode is decided before clap sees anything: nm-dispatcher sets `NM_DISPATCHER_ACTION`
//! and runs the program under its link name (`50-nm-mptcp`), so an interface may be called
//! anything, `status` included.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::adapters::dispatcher::Action;
use nm_mptcp_core::error::ErrorKind;

/// `nm-mptcp IFACE ACTION`, as a person types it and as nm-dispatcher runs it.
pub const HOOK_USAGE: &str = "nm-mptcp IFACE ACTION";

/// The environment nm-mptcp reads: (name, what it does).
pub const ENVIRONMENT: [(&str, &str); 5] = [
    (
        "NM_DISPATCHER_ACTION",
        "set by nm-dispatcher: the arguments are a dispatcher event (IFACE ACTION), whatever the interface is called",
    ),
    (
        "NM_MPTCP_CONFIG",
        "the configuration file (default /etc/nm-mptcp/config.toml)",
    ),
    (
        "NM_MPTCP_RUN_DIR",
        "the state directory (default /run/nm-mptcp): ledger, locks, control socket",
    ),
    (
        "NM_MPTCP_LOG",
        "log level: error, warn, info, debug or trace",
    ),
    (
        "DBUS_SYSTEM_BUS_ADDRESS",
        "the system bus (default unix:path=/var/run/dbus/system_bus_socket)",
    ),
];

/// The files nm-mptcp reads and writes: (path, what it is).
pub const FILES: [(&str, &str); 6] = [
    (
        "/etc/nm-mptcp/config.toml",
        "configuration: limits, net.mptcp.enabled, rp_filter (optional)",
    ),
    (
        "/run/nm-mptcp/ledger.json",
        "the endpoints nm-mptcp created or adopted, and the rp_filter values it relaxed",
    ),
    (
        "/run/nm-mptcp/control.sock",
        "the daemon's socket, where the hook hands over its events",
    ),
    (
        "/etc/NetworkManager/dispatcher.d/50-nm-mptcp",
        "the hook: a link to the binary (also in pre-down.d)",
    ),
    (
        "/etc/NetworkManager/NetworkManager.conf",
        "read with conf.d for the connection.mptcp-flags default",
    ),
    (
        "/proc/sys/net/mptcp/enabled",
        "net.mptcp.enabled, read (and written where configured)",
    ),
];

/// nm-mptcp: NetworkManager's connection.mptcp-flags made into kernel MPTCP endpoints
#[derive(Debug, Parser)]
#[command(
    name = "nm-mptcp",
    version,
    about = "NetworkManager connection.mptcp-flags -> kernel MPTCP endpoints and limits",
    long_about = "NetworkManager connection.mptcp-flags -> kernel MPTCP endpoints and limits.\n\n\
        As a NetworkManager dispatcher script (dispatcher.d/50-nm-mptcp, a link to this binary) \
        it reconciles the whole host on every link event with NetworkManager's own rules, \
        never touching an endpoint it did not create, and says why each address is or is not \
        an endpoint.",
    disable_help_subcommand = true,
    subcommand_required = true,
    allow_external_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the whole host once (at boot, or by hand)
    Reconcile,
    /// Show what would be done and why, changing nothing
    Plan(Output),
    /// Endpoints, owners, limits, why each address is or is not one, and whether MPTCP
    /// carries traffic: connections and subflows per endpoint, the kernel's MPTCP counters,
    /// and what to fix
    Status(Output),
    /// The status as OpenMetrics text (Prometheus), or written for node_exporter's textfile
    /// collector
    Metrics {
        /// Write DIR/nm_mptcp.prom (replaced atomically) instead of printing
        #[arg(long, value_name = "DIR")]
        textfile: Option<std::path::PathBuf>,
    },
    /// Reconcile on address changes until addresses settle (the hook starts it when SLAAC,
    /// DHCPv6 or DAD is pending)
    Watch {
        /// Give up after this many seconds
        #[arg(long = "for", value_name = "SECONDS", default_value_t = 60)]
        seconds: u64,
    },
    /// Stay resident: follow NetworkManager and the kernel, keep the endpoints reconciled,
    /// take the hook's events (much faster)
    Daemon,
    /// Validate the configuration file, changing nothing
    CheckConfig,
    /// Give back what nm-mptcp changed: stop the daemon, delete the endpoints nm-mptcp owns,
    /// put back the limits and rp_filter values it set; nothing of anyone else's is touched
    /// (a package's removal runs it). Endpoints NetworkManager's own support holds are left
    /// to it. Nothing of nm-mptcp's acts again until `resume`
    Release,
    /// Act again after `release`: the next event applies the profiles (a package's install
    /// and upgrade run it)
    Resume,
    /// A dispatcher event, IFACE ACTION
    #[command(external_subcommand)]
    Hook(Vec<OsString>),
}

#[derive(Debug, Args)]
pub struct Output {
    /// Print JSON for programs instead of text for people
    #[arg(long)]
    pub json: bool,
}

/// The command line definition with its usage and footer: what `--help` prints, and what
/// the man page and completions are made from.
pub fn command() -> clap::Command {
    Cli::command()
        .override_usage(format!(
            "nm-mptcp <COMMAND>\n       {HOOK_USAGE}    (dispatcher hook: {}; other actions are ignored)",
            hook_actions().join(", ")
        ))
        .after_long_help(footer())
}

/// The dispatcher actions the hook acts on.
pub fn hook_actions() -> Vec<String> {
    Action::HANDLED
        .iter()
        .map(|a| a.name().to_owned())
        .collect()
}

/// Parse a command line that is not a dispatcher event.
pub fn parse(args: &[OsString]) -> Result<Cli, clap::Error> {
    let mut command = command();
    let matches = command.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
}

/// The dispatcher event's arguments when nm-mptcp runs as a dispatcher hook: from
/// nm-dispatcher (`IFACE ACTION` with the same action in `NM_DISPATCHER_ACTION`, which it sets
/// since NetworkManager 1.12; a command run from another dispatcher script inherits the
/// variable but not the arguments) or through a dispatcher script's name (`50-nm-mptcp`:
/// dispatcher scripts are ordered by a number in front). `None` for a command line for clap.
pub fn hook_arguments<'a>(
    args: &'a [OsString],
    dispatcher_action: Option<&OsStr>,
) -> Option<&'a [OsString]> {
    let (program, rest) = args.split_first()?;
    let from_dispatcher =
        matches!(rest, [_, action] if Some(action.as_os_str()) == dispatcher_action);
    let script_name = Path::new(program).file_name().is_some_and(|name| {
        name.as_encoded_bytes()
            .first()
            .is_some_and(u8::is_ascii_digit)
    });
    (from_dispatcher || script_name).then_some(rest)
}

/// Exit statuses, environment and files, as `--help` ends and the README lists them.
pub fn footer() -> String {
    let mut text = String::from("Exit status:\n");
    for line in exit_status_lines() {
        text.push_str(&format!("  {line}\n"));
    }
    text.push_str("\nEnvironment:\n");
    for (name, what) in ENVIRONMENT {
        text.push_str(&format!("  {name}: {what}\n"));
    }
    text.push_str("\nFiles:\n");
    for (path, what) in FILES {
        text.push_str(&format!("  {path}: {what}\n"));
    }
    text
}

/// `0 ok`, then one line per error kind, by exit status.
pub fn exit_status_lines() -> Vec<String> {
    let mut kinds = ErrorKind::ALL.to_vec();
    kinds.sort_by_key(|k| k.exit_code());
    std::iter::once("0 ok".to_owned())
        .chain(
            kinds
                .into_iter()
                .map(|k| format!("{} {}", k.exit_code(), k.summary())),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn the_dispatcher_decides_hook_mode_whatever_the_interface_is_called() {
        let args = os(&[
            "/etc/NetworkManager/dispatcher.d/50-nm-mptcp",
            "status",
            "up",
        ]);
        assert_eq!(hook_arguments(&args, None), Some(&args[1..]));
        let args = os(&["/usr/bin/nm-mptcp", "status", "up"]);
        assert_eq!(
            hook_arguments(&args, Some(OsStr::new("up"))),
            Some(&args[1..])
        );
        assert_eq!(hook_arguments(&args, None), None);
        // A command run from another dispatcher script inherits the variable only.
        let args = os(&["/usr/bin/nm-mptcp", "status"]);
        assert_eq!(hook_arguments(&args, Some(OsStr::new("up"))), None);
        let args = os(&["/usr/bin/nm-mptcp", "watch", "--for"]);
        assert_eq!(hook_arguments(&args, Some(OsStr::new("up"))), None);
        assert_eq!(hook_arguments(&[], None), None);
        // A copy under another name is still the command line tool.
        let args = os(&["/tmp/nm-mptcp-0.2", "status"]);
        assert_eq!(hook_arguments(&args, None), None);
    }

    #[test]
    fn by_hand_an_event_is_the_external_subcommand_and_commands_parse() {
        let cli = parse(&os(&["nm-mptcp", "e0", "up"])).unwrap();
        assert!(matches!(cli.command, Command::Hook(ref a) if a == &os(&["e0", "up"])));
        let cli = parse(&os(&["nm-mptcp", "watch", "--for", "5"])).unwrap();
        assert!(matches!(cli.command, Command::Watch { seconds: 5 }));
        let cli = parse(&os(&["nm-mptcp", "status", "--json"])).unwrap();
        assert!(matches!(
            cli.command,
            Command::Status(Output { json: true })
        ));
        assert!(parse(&os(&["nm-mptcp", "plan", "--yaml"])).is_err());
        assert!(parse(&os(&["nm-mptcp", "reconcile", "now"])).is_err());
        assert!(parse(&os(&["nm-mptcp"])).is_err());
    }

    #[test]
    fn every_exit_status_is_documented_once() {
        let lines = exit_status_lines();
        assert_eq!(lines.len(), ErrorKind::ALL.len() + 1);
        let mut codes: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
        codes.dedup();
        assert_eq!(codes.len(), lines.len());
    }

    #[test]
    fn the_readme_lists_the_same_exit_statuses_environment_and_files() {
        let readme = include_str!("../README.md");
        for line in exit_status_lines() {
            assert!(
                readme.contains(&format!("- `{}` {}", &line[..1], &line[2..])),
                "README lacks exit status: {line}"
            );
        }
        for (name, _) in ENVIRONMENT {
            assert!(readme.contains(&format!("`{name}`")), "README lacks {name}");
        }
        for (path, _) in FILES {
            assert!(readme.contains(&format!("`{path}`")), "README lacks {path}");
        }
        for action in hook_actions() {
            assert!(
                readme.contains(&format!("`{action}`")),
                "README lacks action {action}"
            );
        }
        for sub in command().get_subcommands() {
            let usage = format!("\nnm-mptcp {}", sub.get_name());
            assert!(
                readme.contains(&usage),
                "README's usage lacks {}",
                sub.get_name()
            );
        }
    }

    proptest::proptest! {
        /// Any command line and any NM_DISPATCHER_ACTION: an event, clap's verdict, never
        /// a panic.
        #[test]
        fn fuzz_command_lines_never_panic(
            args in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12), 0..4),
            action in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12)),
        ) {
            use std::os::unix::ffi::OsStrExt;
            let mut argv = vec![OsString::from("nm-mptcp")];
            argv.extend(args.iter().map(|a| std::ffi::OsStr::from_bytes(a).to_owned()));
            let action = action.as_deref().map(std::ffi::OsStr::from_bytes);
            if hook_arguments(&argv, action).is_none() {
                let _ = parse(&argv);
            }
        }
    }
}
