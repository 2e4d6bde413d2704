//! `cargo run -p xtask -- docs [DIR]`: write nm-mptcp's man page (section 8) and its bash,
//! zsh and fish completions into DIR (default `target/docs`), all from the clap definition
//! in `nm_mptcp::cli`, so the shipped binary carries no generator.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap_complete::Shell;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;
use nm_mptcp::cli;
use nm_mptcp_core::diff::DeleteReason;
use nm_mptcp_core::model::code;
use nm_mptcp_core::planner::Reason;

/// The commented configuration file the packages install.
const CONFIG_EXAMPLE: &str = include_str!("../../packaging/config.toml");
/// The daemon's interface, as installed for introspection.
const INTROSPECTION: &str = include_str!("../../dbus/io.github.nm_mptcp1.Manager.xml");

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.as_slice() {
        [task] if task == "docs" => PathBuf::from("target/docs"),
        [task, dir] if task == "docs" => PathBuf::from(dir),
        _ => {
            eprintln!("usage: cargo run -p xtask -- docs [DIR]");
            return ExitCode::from(2);
        }
    };
    match write_docs(&out) {
        Ok(written) => {
            for path in written {
                println!("{}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask: {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

/// The man page and the completions, written into `dir`; returns the paths written.
fn write_docs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    let man = dir.join("nm-mptcp.8");
    fs::write(&man, man_page()?)?;
    let mut written = vec![man];
    for (shell, name) in [
        (Shell::Bash, "nm-mptcp.bash"),
        (Shell::Zsh, "_nm-mptcp"),
        (Shell::Fish, "nm-mptcp.fish"),
    ] {
        let path = dir.join(name);
        let mut file = fs::File::create(&path)?;
        clap_complete::generate(shell, &mut cli::command(), "nm-mptcp", &mut file);
        written.push(path);
    }
    Ok(written)
}

/// The man page: clap's sections, then the footer's (exit status, environment, files) and an
/// example, from the same source as `--help`.
fn man_page() -> io::Result<Vec<u8>> {
    let command = cli::command().after_long_help(None::<&str>);
    let man = Man::new(command).section("8");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    let mut roff = Roff::new();
    roff.control("SH", ["SYNOPSIS"]);
    roff.text([bold("nm-mptcp"), roman(" COMMAND [OPTIONS]")]);
    roff.control("br", []);
    roff.text([roman(cli::HOOK_USAGE)]);
    roff.to_writer(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    for sub in cli::command().get_subcommands() {
        let options: Vec<String> = sub
            .get_arguments()
            .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
            .filter_map(|a| {
                let long = a.get_long()?;
                Some(match a.get_value_names() {
                    Some([value, ..]) if a.get_action().takes_values() => {
                        format!(" [--{long} {value}]")
                    }
                    _ => format!(" [--{long}]"),
                })
            })
            .collect();
        let about = sub
            .get_long_about()
            .or(sub.get_about())
            .map(|t| t.to_string());
        roff.control("TP", [])
            .text([bold(sub.get_name()), roman(options.concat())])
            .text([roman(about.unwrap_or_default())]);
    }
    roff.control("TP", [])
        .text([bold("IFACE ACTION")])
        .text([roman(format!(
            "A dispatcher event, as nm-dispatcher runs the hook (dispatcher.d/50-nm-mptcp and \
             pre-down.d/50-nm-mptcp, links to the binary): {} reconcile the whole host; any \
             other action exits 0 at once. A running daemon takes the event over its control \
             socket.",
            cli::hook_actions().join(", ")
        ))]);
    roff.control("SH", ["EXIT STATUS"]);
    for line in cli::exit_status_lines() {
        let (code, what) = line.split_once(' ').unwrap_or((&line, ""));
        roff.control("TP", [])
            .text([bold(code)])
            .text([roman(what)]);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, what) in cli::ENVIRONMENT {
        roff.control("TP", [])
            .text([bold(name)])
            .text([roman(what)]);
    }
    roff.control("SH", ["FILES"]);
    for (path, what) in cli::FILES {
        roff.control("TP", [])
            .text([bold(path)])
            .text([roman(what)]);
    }
    roff.control("SH", ["CONFIGURATION"]);
    roff.text([roman(
        "/etc/nm-mptcp/config.toml is optional; every key has a default. The file as \
         installed, with every key at its default:",
    )]);
    roff.control("PP", []);
    roff.control("nf", []);
    for line in CONFIG_EXAMPLE.lines() {
        roff.text([roman(line)]);
    }
    roff.control("fi", []);
    roff.control("SH", ["REASON CODES"]);
    roff.text([roman(
        "Why each address of an active profile is or is not an endpoint (status, plan, the \
         D-Bus Profiles property):",
    )]);
    for reason in Reason::ALL {
        roff.control("TP", [])
            .text([bold(code(&reason))])
            .text([roman(reason.meaning())]);
    }
    roff.control("PP", []);
    roff.text([roman(
        "Why nm-mptcp deletes an endpoint (plan, reconcile, release):",
    )]);
    for reason in DeleteReason::ALL {
        roff.control("TP", [])
            .text([bold(code(&reason))])
            .text([roman(reason.meaning())]);
    }
    roff.control("SH", ["IS MPTCP WORKING?"]);
    roff.text([roman(
        "status shows, per endpoint, the MPTCP connections and established subflows using \
         its address (read with sock_diag), the kernel's MPTCP counters in plain words, and \
         warnings from the traffic, each naming the link or profile and, where there is one, \
         the command that fixes it:",
    )]);
    for (code, what) in [
        ("no-route-to-peer", "a subflow endpoint's link has no route to the peer of a current connection (the kernel's own route lookup says so): the join never completes; the fix adds the route to the profile, through the router NetworkManager knows on that link"),
        ("fallback-to-tcp", "connections this host opened went on as plain TCP: the peer or a middlebox does not speak MPTCP"),
        ("join-errors", "joins failed or were refused lately (the kernel's counters)"),
        ("blackhole", "MPTCP SYNs were dropped on the path; the kernel opens connections without MPTCP for a while"),
        ("subflow-limit-reached", "connections have every subflow the limit allows while subflow endpoints wait"),
        ("mptcpd-running", "mptcpd manages endpoints too; names them, and nm-mptcp leaves them alone"),
    ] {
        roff.control("TP", []).text([bold(code)]).text([roman(what)]);
    }
    roff.control("PP", []);
    roff.text([roman(
        "nm-mptcp metrics prints the same for Prometheus; --textfile DIR writes \
         DIR/nm_mptcp.prom for node_exporter's textfile collector, atomically, and the \
         daemon keeps it current with [metrics] textfile.",
    )]);
    roff.control("SH", ["D-BUS INTERFACE"]);
    roff.text([roman(
        "The daemon serves io.github.nm_mptcp1 on the system bus (started by the first \
         caller), object /io/github/nm_mptcp1, interface io.github.nm_mptcp1.Manager. \
         Properties are read-only and signalled with PropertiesChanged; Reconcile is for \
         root only.",
    )]);
    for (member, what) in dbus_members(INTROSPECTION) {
        roff.control("TP", [])
            .text([bold(member)])
            .text([roman(what)]);
    }
    roff.control("SH", ["EXAMPLE"]);
    roff.text([roman(
        "The RHEL chapter \"Getting started with Multipath TCP\": give each client profile \
         signal and subflow endpoints, also on links without a default route, and let \
         nm-mptcp set the limits the chapter sets by hand:",
    )]);
    roff.control("PP", []);
    roff.control("nf", []);
    for line in [
        "nmcli connection modify enp4s0f0 connection.mptcp-flags signal,subflow,also-without-default-route",
        "nmcli device reapply enp4s0f0",
        "nm-mptcp status",
        "ip mptcp endpoint show",
        "ip mptcp limits show",
    ] {
        roff.text([roman(line)]);
    }
    roff.control("fi", []);
    roff.to_writer(&mut out)?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// The interface's methods and properties, each with the comment above it.
fn dbus_members(xml: &str) -> Vec<(String, String)> {
    let mut members = Vec::new();
    let mut comment: Vec<&str> = Vec::new();
    let mut in_comment = false;
    for line in xml.lines().map(str::trim) {
        if line.starts_with("<!--") {
            in_comment = true;
            comment.clear();
        } else if line.starts_with("-->") {
            in_comment = false;
        } else if in_comment {
            comment.push(line);
        } else if let Some(rest) = line
            .strip_prefix("<method name=\"")
            .or_else(|| line.strip_prefix("<property name=\""))
        {
            let name = rest.split('"').next().unwrap_or_default();
            let member = match line.split("type=\"").nth(1) {
                Some(signature) => format!(
                    "{name} ({})",
                    signature.split('"').next().unwrap_or_default()
                ),
                None => format!("{name}()"),
            };
            members.push((member, comment.join(" ")));
            comment.clear();
        }
    }
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_cover_every_subcommand_exit_status_variable_and_file() {
        let dir = std::env::temp_dir().join(format!("nm-mptcp-docs-{}", std::process::id()));
        let written = write_docs(&dir).unwrap();
        assert_eq!(written.len(), 4);
        let man = fs::read_to_string(dir.join("nm-mptcp.8")).unwrap();
        for section in [
            "EXIT STATUS",
            "ENVIRONMENT",
            "FILES",
            "EXAMPLE",
            "COMMANDS",
            "CONFIGURATION",
            "REASON CODES",
            "D-BUS INTERFACE",
        ] {
            assert!(man.contains(section), "man page lacks {section}");
        }
        for word in [
            "reconcile",
            "plan",
            "status",
            "watch",
            "daemon",
            "check\\-config",
            "release",
            "IFACE ACTION",
            "no\\-default\\-route",
            "released",
            "add_addr_accepted = \"auto\"",
            "Reconcile()",
            "Endpoints (aa{sv})",
        ] {
            assert!(man.contains(word), "man page lacks {word}");
        }
        for (name, _) in cli::ENVIRONMENT {
            assert!(man.contains(name), "man page lacks {name}");
        }
        assert!(
            !man.contains("nm\\-mptcp\\-plan(8)"),
            "no pages of their own"
        );
        assert!(man.contains("still differs from the plan"));
        let bash = fs::read_to_string(dir.join("nm-mptcp.bash")).unwrap();
        assert!(bash.contains("check-config") && bash.contains("--json"));
        let fish = fs::read_to_string(dir.join("nm-mptcp.fish")).unwrap();
        assert!(fish.contains("watch"));
        let zsh = fs::read_to_string(dir.join("_nm-mptcp")).unwrap();
        assert!(zsh.contains("#compdef nm-mptcp"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
