//! Bad input gets a clear one-line error and a distinct exit status, never a panic or a hang.
//! These run the real binary with no NetworkManager, or with a bus where it is absent.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_nm-mptcp");

fn run(args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
    let run_dir = std::env::temp_dir().join(format!("nm-mptcp-cli-{}", std::process::id()));
    let start = Instant::now();
    let out = Command::new(BIN)
        .args(args)
        .env("NM_MPTCP_RUN_DIR", &run_dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run nm-mptcp");
    (out, start.elapsed())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn version_and_help() {
    let (out, _) = run(&["--version"], &[]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("nm-mptcp {}", env!("CARGO_PKG_VERSION"))
    );
    let (out, _) = run(&["--help"], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nm-mptcp IFACE ACTION"));
}

#[test]
fn garbage_arguments_exit_2_with_one_clear_line() {
    for args in [
        vec![],
        vec!["eth0"],
        vec!["eth0", "up", "extra"],
        vec!["../../etc", "up"],
        vec!["eth0", "Up;reboot"],
        vec!["plan", "--yaml"],
        vec!["reconcile", "now"],
    ] {
        let (out, _) = run(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let first = stderr(&out).lines().next().unwrap_or_default().to_owned();
        assert!(first.starts_with("nm-mptcp: "), "{args:?}: {first}");
        assert!(!stderr(&out).contains("panicked"), "{args:?}");
    }
}

#[test]
fn actions_it_does_not_handle_exit_0_without_touching_anything() {
    for action in ["hostname", "pre-up", "vpn-up", "dns-change", "device-add"] {
        let (out, took) = run(
            &["eth0", action],
            &[("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent")],
        );
        assert!(out.status.success(), "{action}: {}", stderr(&out));
        assert!(took < Duration::from_secs(1), "{action} took {took:?}");
    }
}

#[test]
fn no_system_bus_is_exit_3_fast() {
    let (out, took) = run(
        &["eth0", "up"],
        &[("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus")],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("system bus"), "{}", stderr(&out));
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[test]
fn networkmanager_absent_from_the_bus_is_exit_3_fast() {
    let dir = std::env::temp_dir().join(format!("nm-mptcp-bus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("bus");
    let config = dir.join("bus.conf");
    std::fs::write(
        &config,
        format!(
            "<busconfig><type>system</type><listen>unix:path={}</listen><auth>EXTERNAL</auth>\
             <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
             <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>",
            socket.display()
        ),
    )
    .unwrap();
    let mut bus = Command::new("dbus-daemon")
        .arg(format!("--config-file={}", config.display()))
        .arg("--nofork")
        .spawn()
        .expect("dbus-daemon (apt-get install dbus)");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let address = format!("unix:path={}", socket.display());
    let (out, took) = run(&["eth0", "up"], &[("DBUS_SYSTEM_BUS_ADDRESS", &address)]);
    let (plan, _) = run(&["plan"], &[("DBUS_SYSTEM_BUS_ADDRESS", &address)]);
    bus.kill().ok();
    bus.wait().ok();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("NetworkManager"), "{}", stderr(&out));
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert_eq!(plan.status.code(), Some(3));
}

#[test]
fn under_the_dispatcher_any_interface_name_is_an_event() {
    // `status` is a command's name; nm-dispatcher's environment makes it an interface.
    let (out, _) = run(
        &["status", "up"],
        &[
            ("NM_DISPATCHER_ACTION", "up"),
            ("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus"),
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("system bus"), "{}", stderr(&out));
    // So does a dispatcher script's name, without the environment: a link or a copy.
    let dir = std::env::temp_dir().join(format!("nm-mptcp-link-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("copy")).unwrap();
    let link = dir.join("50-nm-mptcp");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let copy = dir.join("copy/50-nm-mptcp");
    std::fs::copy(BIN, &copy).unwrap();
    for script in [&link, &copy] {
        let out = Command::new(script)
            .args(["plan", "hostname"])
            .env_remove("NM_DISPATCHER_ACTION")
            .output()
            .unwrap();
        assert!(out.status.success(), "{script:?}: {}", stderr(&out));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_command_run_from_another_dispatcher_script_stays_a_command() {
    // nm-dispatcher's environment is inherited by what its scripts run.
    let (out, _) = run(
        &["check-config"],
        &[
            ("NM_DISPATCHER_ACTION", "up"),
            ("NM_MPTCP_CONFIG", "/nonexistent/config.toml"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"));
}

#[test]
fn output_that_cannot_be_written_is_exit_1_not_a_crash() {
    let out = Command::new(BIN)
        .arg("check-config")
        .env("NM_MPTCP_CONFIG", "/nonexistent/config.toml")
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot write the output"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn non_utf8_arguments_are_usage_errors_not_aborts() {
    use std::os::unix::ffi::OsStrExt;
    let odd = std::ffi::OsStr::from_bytes(b"e\xff0");
    for args in [vec![odd, "up".as_ref()], vec!["plan".as_ref(), odd]] {
        let out = Command::new(BIN)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("nm-mptcp: "), "{}", stderr(&out));
    }
}

#[test]
fn a_fifo_or_an_endless_file_as_config_is_a_clear_error_at_once() {
    let dir = std::env::temp_dir().join(format!("nm-mptcp-cli-fifo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("config.toml");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let zero = dir.join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let big = dir.join("big.toml");
    std::fs::write(&big, format!("# {}\n", "x".repeat(200_000))).unwrap();
    for (config, says) in [
        (&fifo, "a FIFO"),
        (&zero, "a device"),
        (&big, "larger than"),
    ] {
        let (out, took) = run(
            &["check-config"],
            &[("NM_MPTCP_CONFIG", config.to_str().unwrap())],
        );
        assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
        assert!(took < Duration::from_secs(2), "took {took:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_relative_or_empty_run_dir_never_writes_into_the_working_directory() {
    let cwd = std::env::temp_dir().join(format!("nm-mptcp-cli-cwd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cwd);
    std::fs::create_dir_all(&cwd).unwrap();
    for value in ["", "state"] {
        let out = Command::new(BIN)
            .args(["eth0", "down"])
            .current_dir(&cwd)
            .env("NM_MPTCP_RUN_DIR", value)
            .env("NM_DISPATCHER_ACTION", "down")
            .env("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        let left: Vec<_> = std::fs::read_dir(&cwd)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "NM_MPTCP_RUN_DIR={value:?} left {left:?}");
    }
    std::fs::remove_dir_all(&cwd).unwrap();
}
