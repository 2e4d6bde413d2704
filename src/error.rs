//! One error type with a kind (as nmstate does it); the kind decides the exit status.

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
}

impl ErrorKind {
    const ALL: [ErrorKind; 6] = [
        ErrorKind::Usage,
        ErrorKind::NetworkManager,
        ErrorKind::Kernel,
        ErrorKind::State,
        ErrorKind::Busy,
        ErrorKind::Config,
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
        }
    }

    /// The kind an exit status stands for (the daemon passes its verdicts on to the hook).
    pub fn from_exit_code(code: u8) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.exit_code() == code)
    }
}

#[derive(Debug, thiserror::Error)]
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

impl From<zbus::Error> for Error {
    fn from(e: zbus::Error) -> Error {
        Error::nm(e.to_string())
    }
}
