//! The hook's line to a running daemon: `IFACE ACTION` in, `ok` or `error CODE MESSAGE` out,
//! over a Unix socket in the run directory. The hook side is plain blocking std I/O, run
//! before any runtime starts: when the daemon answers, a dispatcher event costs the hook
//! little more than its own process start.

use std::io::{BufRead, BufReader, ErrorKind as IoErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

use nm_mptcp_core::error::{Error, ErrorKind};

pub(crate) const SOCKET_NAME: &str = "control.sock";
/// Longest request or reply line accepted.
pub(crate) const MAX_LINE: usize = 4096;
/// How long the hook waits for the daemon's answer: what bounds the daemon's work (the bus
/// 1 s, a NetworkManager read 3 s, the ledger lock 5 s), with room to spare.
const REPLY_TIMEOUT: Duration = Duration::from_secs(12);

pub(crate) fn socket_path(run_dir: &Path) -> PathBuf {
    run_dir.join(SOCKET_NAME)
}

/// What became of a dispatcher event offered to the daemon.
#[derive(Debug)]
pub(crate) enum Forwarded {
    /// The daemon carried it out, with this verdict.
    Answered(Result<(), Error>),
    /// No daemon takes it: none runs (no socket, a stale one, one that went away before
    /// answering), or, with a reason worth a warning, it is stopped or stuck. The hook does
    /// the work itself.
    Alone(Option<String>),
}

/// A connection to the daemon; `None` when none listens (no socket, or a stale one).
fn connect(run_dir: &Path) -> Result<Option<UnixStream>, Error> {
    match UnixStream::connect(socket_path(run_dir)) {
        Ok(stream) => Ok(Some(stream)),
        Err(e)
            if matches!(
                e.kind(),
                IoErrorKind::NotFound | IoErrorKind::ConnectionRefused
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(daemon_error(format!("cannot reach the daemon: {e}"))),
    }
}

/// Hand a dispatcher event to the daemon.
pub(crate) fn forward(run_dir: &Path, interface: &str, action: &str) -> Forwarded {
    let mut stream = match connect(run_dir) {
        Ok(Some(stream)) => stream,
        Ok(None) => return Forwarded::Alone(None),
        Err(e) => return Forwarded::Answered(Err(e)),
    };
    // A stopped daemon (SIGSTOP, a debugger) would never answer.
    if let Some(pid) = peer_pid(&stream).filter(|pid| stopped(*pid)) {
        return Forwarded::Alone(Some(format!("the daemon (pid {pid}) is stopped")));
    }
    let mut exchange = || -> std::io::Result<String> {
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        stream.write_all(request_line(interface, action).as_bytes())?;
        let mut reply = String::new();
        BufReader::new((&mut stream).take(MAX_LINE as u64)).read_line(&mut reply)?;
        Ok(reply)
    };
    match exchange() {
        Ok(reply) if reply.is_empty() => Forwarded::Alone(None),
        Ok(reply) => Forwarded::Answered(parse_reply(&reply)),
        Err(e)
            if matches!(
                e.kind(),
                IoErrorKind::ConnectionReset | IoErrorKind::BrokenPipe
            ) =>
        {
            Forwarded::Alone(None)
        }
        // Stuck: the event must not be lost, so the hook does the work itself.
        Err(e) if matches!(e.kind(), IoErrorKind::WouldBlock | IoErrorKind::TimedOut) => {
            Forwarded::Alone(Some(format!(
                "the daemon did not answer within {} s",
                REPLY_TIMEOUT.as_secs()
            )))
        }
        Err(e) => Forwarded::Answered(Err(daemon_error(format!("the daemon did not answer: {e}")))),
    }
}

fn peer_pid(stream: &UnixStream) -> Option<i32> {
    getsockopt(stream, PeerCredentials)
        .ok()
        .map(|credentials| credentials.pid())
}

/// The process is stopped (state T or t in /proc/PID/stat) or already gone.
fn stopped(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may hold any byte.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, Some('T' | 't' | 'Z' | 'X'))
}

/// The pid of the daemon that listens on the control socket (the kernel's record of who
/// bound it); `None` when no daemon listens.
pub(crate) fn daemon_pid(run_dir: &Path) -> Result<Option<i32>, Error> {
    let Some(stream) = connect(run_dir)? else {
        return Ok(None);
    };
    peer_pid(&stream)
        .map(Some)
        .ok_or_else(|| daemon_error("cannot tell the daemon's pid".to_owned()))
}

fn daemon_error(message: String) -> Error {
    Error::new(ErrorKind::Daemon, message)
}

pub(crate) fn request_line(interface: &str, action: &str) -> String {
    format!("{interface} {action}\n")
}

/// The request's two words, as the hook got them on its command line (separated by one
/// space: interface names may hold any other character).
pub(crate) fn parse_request(line: &str) -> Result<Vec<String>, Error> {
    let words: Vec<String> = line
        .strip_suffix('\n')
        .unwrap_or_default()
        .split(' ')
        .map(str::to_owned)
        .collect();
    if words.len() != 2 || words.iter().any(String::is_empty) {
        return Err(Error::usage(format!(
            "a request is one line 'IFACE ACTION', got {:?}",
            line.trim_end()
        )));
    }
    Ok(words)
}

pub(crate) fn reply_line(result: &Result<(), Error>) -> String {
    match result {
        Ok(()) => "ok\n".to_owned(),
        Err(e) => format!(
            "error {} {}\n",
            e.kind.exit_code(),
            e.message.replace('\n', " ")
        ),
    }
}

pub(crate) fn parse_reply(line: &str) -> Result<(), Error> {
    let line = line.trim_end_matches('\n');
    if line == "ok" {
        return Ok(());
    }
    let malformed = || daemon_error(format!("the daemon answered {line:?}"));
    let rest = line.strip_prefix("error ").ok_or_else(malformed)?;
    let (code, message) = rest.split_once(' ').ok_or_else(malformed)?;
    let kind = code
        .parse::<u8>()
        .ok()
        .and_then(ErrorKind::from_exit_code)
        .ok_or_else(malformed)?;
    Err(Error::new(kind, message.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_the_hook_arguments_on_one_line() {
        let line = request_line("e0", "up");
        assert_eq!(parse_request(&line).unwrap(), vec!["e0", "up"]);
        let odd = request_line("e\u{a0}0", "up");
        assert_eq!(parse_request(&odd).unwrap(), vec!["e\u{a0}0", "up"]);
        for bad in ["e0 up", "e0\n", "e0 up extra\n", "e0  up\n", "\n", ""] {
            assert_eq!(
                parse_request(bad).unwrap_err().kind,
                ErrorKind::Usage,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn replies_carry_the_exit_code_and_message() {
        assert!(parse_reply(&reply_line(&Ok(()))).is_ok());
        let error = Error::nm("NetworkManager is not\non the bus");
        let back = parse_reply(&reply_line(&Err(error))).unwrap_err();
        assert_eq!(back.kind, ErrorKind::NetworkManager);
        assert_eq!(back.message, "NetworkManager is not on the bus");
    }

    #[test]
    fn malformed_replies_are_errors_not_success() {
        for bad in [
            "",
            "okay",
            "error",
            "error x msg",
            "error 99 msg",
            "error 3",
        ] {
            let e = parse_reply(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Daemon, "{bad:?}");
            assert!(e.message.contains("the daemon answered"), "{bad:?}");
        }
    }

    #[test]
    fn a_daemon_that_leaves_without_answering_leaves_the_work_to_the_hook() {
        let dir = std::env::temp_dir().join(format!("nm-mptcp-leaves-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let listener = std::os::unix::net::UnixListener::bind(socket_path(&dir)).unwrap();
        let daemon = std::thread::spawn(move || drop(listener.accept().unwrap()));
        assert!(matches!(forward(&dir, "e0", "up"), Forwarded::Alone(None)));
        daemon.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_daemon_pid_is_whoever_listens() {
        let dir = std::env::temp_dir().join(format!("nm-mptcp-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(daemon_pid(&dir).unwrap(), None);
        let listener = std::os::unix::net::UnixListener::bind(socket_path(&dir)).unwrap();
        assert_eq!(daemon_pid(&dir).unwrap(), Some(std::process::id() as i32));
        drop(listener);
        assert_eq!(daemon_pid(&dir).unwrap(), None, "a stale socket");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_daemon_means_the_hook_works_alone() {
        let dir = std::env::temp_dir().join(format!("nm-mptcp-control-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(matches!(forward(&dir, "e0", "up"), Forwarded::Alone(None)));
        // A socket file nobody listens on (a daemon that died) is no daemon either.
        drop(std::os::unix::net::UnixListener::bind(socket_path(&dir)).unwrap());
        assert!(matches!(forward(&dir, "e0", "up"), Forwarded::Alone(None)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    proptest::proptest! {
        /// Any line a client sends, any reply a daemon sends: parsed or a typed error.
        #[test]
        fn fuzz_control_lines_never_panic(line in "(.|\n){0,64}") {
            if let Err(e) = parse_request(&line) {
                proptest::prop_assert_eq!(e.kind, ErrorKind::Usage);
            }
            let _ = parse_reply(&line);
            let _ = reply_line(&Err(Error::new(ErrorKind::Busy, line.clone())));
        }
    }
}
