//! One error type with a kind (as nmstate does it); the kind decides the exit status, and
//! each kind's `summary` is what `--help`, the man page and the README say of it.

use std::fmt;

/// What went wrong, coarse enough to pick an exit status and a remedy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad command line or dispatcher environment.
    Usage,
    /// The system bus or NetworkManager is absent, slow or answered something unexpected.
    NetworkManager,
    /// A netlink socket or request failed, or the kernel refused a change.
    Kernel,
    /// The run directory or ledger could not be used.
    State,
    /// Another nm-mptcp held the lock for too long.
    Busy,
    /// /etc/nm-mptcp/config.toml is invalid.
    Config,
    /// The control socket failed: the daemon did not answer in time, or answered something
    /// unexpected, or a client did not send its request in time.
    Daemon,
    /// nm-mptcp could not write its own output (a bug, or stdout closed).
    Internal,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Internal,
        ErrorKind::Usage,
        ErrorKind::NetworkManager,
        ErrorKind::Kernel,
        ErrorKind::State,
        ErrorKind::Busy,
        ErrorKind::Config,
        ErrorKind::Daemon,
    ];

    /// Distinct exit statuses, documented in the README.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Usage => 2,
            ErrorKind::NetworkManager => 3,
            ErrorKind::Kernel => 4,
            ErrorKind::State => 5,
            ErrorKind::Busy => 6,
            ErrorKind::Config => 7,
            ErrorKind::Daemon => 8,
            ErrorKind::Internal => 1,
        }
    }

    /// One line on what the exit status means, for `--help`, the man page and the README.
    pub fn summary(self) -> &'static str {
        match self {
            ErrorKind::Internal => "nm-mptcp could not write its output",
            ErrorKind::Usage => "bad arguments or dispatcher environment",
            ErrorKind::NetworkManager => {
                "the system bus or NetworkManager is absent, slow (3 s) or answered something unexpected (run by nm-dispatcher, NetworkManager off the bus is no failure: it is starting or stopping)"
            }
            ErrorKind::Kernel => {
                "the kernel refused a change and still differs from the plan (an EEXIST because NetworkManager added the same endpoint a moment earlier is convergence, not failure)"
            }
            ErrorKind::State => "the run directory or the ledger is unusable",
            ErrorKind::Busy => "another nm-mptcp held the lock for 5 s (or a daemon already runs)",
            ErrorKind::Config => "the configuration file is invalid; nothing was changed",
            ErrorKind::Daemon => {
                "the daemon did not answer on its control socket in time, or answered something unexpected"
            }
        }
    }

    /// The kind an exit status stands for (the daemon passes its verdicts on to the hook).
    pub fn from_exit_code(code: u8) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.exit_code() == code)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Usage, message)
    }

    pub fn nm(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::NetworkManager, message)
    }

    pub fn kernel(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Kernel, message)
    }

    /// Prefix the message with what was being done.
    pub fn context(mut self, what: impl fmt::Display) -> Error {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
