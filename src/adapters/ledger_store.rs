//! Where the ownership ledger lives between events: `/run/nm-mptcp/` (gone after a reboot,
//! like the endpoints themselves), under a lock so that racing events take turns.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use super::files::{self, Links};

use nm_mptcp_core::error::{Error, ErrorKind};
use nm_mptcp_core::ownership::Ledger;

const RUN_DIR: &str = "/run/nm-mptcp";
const LEDGER_FILE: &str = "ledger.json";
const LOCK_FILE: &str = "lock";
/// Present after `nm-mptcp release` until `nm-mptcp resume`.
const RELEASED_FILE: &str = "released";
/// At most 8 endpoints and a few interfaces: a few KiB. More is not a ledger of ours.
const MAX_LEDGER_SIZE: u64 = 256 * 1024;
/// Held by the one running daemon.
pub const DAEMON_LOCK: &str = "daemon.lock";

/// `/run/nm-mptcp`, or `NM_MPTCP_RUN_DIR` where a test or a packager moves it (an absolute
/// path; an empty or relative value is ignored, with a warning: state must not land in
/// whatever the working directory is).
pub fn run_dir_from_environment() -> PathBuf {
    match std::env::var_os("NM_MPTCP_RUN_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => {
            tracing::warn!(
                value = %nm_mptcp_core::escape::escaped(&dir.to_string_lossy()),
                "NM_MPTCP_RUN_DIR is not an absolute path; using {RUN_DIR}"
            );
            PathBuf::from(RUN_DIR)
        }
        None => PathBuf::from(RUN_DIR),
    }
}

/// The run directory with its lock held; dropping it releases the lock.
pub struct LedgerStore {
    dir: PathBuf,
    _lock: Flock<File>,
}

impl LedgerStore {
    /// Take the lock, waiting at most `wait` for a racing event to finish.
    pub fn lock(dir: &Path, wait: Duration) -> Result<LedgerStore, Error> {
        Ok(LedgerStore {
            dir: dir.to_owned(),
            _lock: lock_in(dir, LOCK_FILE, wait)?,
        })
    }

    /// `lock` for async callers: the usual free lock is taken at once; waiting for a busy one
    /// happens on a blocking thread, so a daemon's other work goes on meanwhile.
    pub async fn lock_async(dir: &Path, wait: Duration) -> Result<LedgerStore, Error> {
        match LedgerStore::lock(dir, Duration::ZERO) {
            Err(e) if e.kind == ErrorKind::Busy => {
                let dir = dir.to_owned();
                tokio::task::spawn_blocking(move || LedgerStore::lock(&dir, wait))
                    .await
                    .map_err(|e| {
                        Error::new(ErrorKind::State, format!("waiting for the lock: {e}"))
                    })?
            }
            taken => taken,
        }
    }

    /// The ledger, or an empty one (with a warning) when missing or unreadable: the next
    /// apply rebuilds it from what the kernel holds.
    pub fn load(&self) -> Ledger {
        read_ledger(&self.dir)
    }

    /// The ledger, and whether it was there but unreadable or corrupt (empty here then).
    pub fn load_checked(&self) -> (Ledger, bool) {
        read_ledger_checked(&self.dir.join(LEDGER_FILE))
    }

    /// Mark the host as given back (`nm-mptcp release`): nothing of nm-mptcp's adds
    /// endpoints again until `resume`.
    pub fn mark_released(&self) -> Result<(), Error> {
        let path = self.dir.join(RELEASED_FILE);
        files::replace(&path, b"nm-mptcp release; `nm-mptcp resume` undoes it\n").map_err(|e| {
            Error::new(
                ErrorKind::State,
                format!("cannot write {}: {e}", path.display()),
            )
        })
    }

    /// Undo `mark_released`.
    pub fn resume(&self) -> Result<bool, Error> {
        let path = self.dir.join(RELEASED_FILE);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::new(
                ErrorKind::State,
                format!("cannot remove {}: {e}", path.display()),
            )),
        }
    }

    pub fn save(&self, ledger: &Ledger) -> Result<(), Error> {
        let path = self.dir.join(LEDGER_FILE);
        let write = || -> io::Result<()> {
            files::replace(
                &path,
                &serde_json::to_vec_pretty(ledger).map_err(io::Error::other)?,
            )
        };
        write().map_err(|e| {
            Error::new(
                ErrorKind::State,
                format!("cannot write {}: {e}", path.display()),
            )
        })
    }
}

/// Take an exclusive lock on `dir/name` (creating `dir` with mode 0700), waiting at most
/// `wait`; an `ErrorKind::Busy` error when someone else still holds it.
pub fn lock_in(dir: &Path, name: &str, wait: Duration) -> Result<Flock<File>, Error> {
    let io_error = |what: &str, e: io::Error| {
        Error::new(ErrorKind::State, format!("{what} {}: {e}", dir.display()))
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io_error("cannot create", e))?;
    files::check_private_dir(dir).map_err(|e| io_error("refusing the run directory", e))?;
    let mut file =
        files::open_lock(&dir.join(name)).map_err(|e| io_error("cannot open a lock in", e))?;
    let deadline = Instant::now() + wait;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((returned, nix::errno::Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                file = returned;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                return Err(Error::new(
                    ErrorKind::Busy,
                    format!(
                        "another nm-mptcp held {} for {wait:?}",
                        dir.join(name).display()
                    ),
                ))
            }
            Err((_, errno)) => return Err(io_error("cannot lock in", errno.into())),
        }
    }
}

/// Whether this user can read the ledger (the run directory is root's, mode 0700).
pub fn ledger_readable(dir: &Path) -> bool {
    match File::open(dir.join(LEDGER_FILE)) {
        Err(e) => e.kind() != io::ErrorKind::PermissionDenied,
        Ok(_) => true,
    }
}

/// Read the ledger without taking the lock (for read-only commands).
pub fn read_ledger(dir: &Path) -> Ledger {
    read_ledger_file(&dir.join(LEDGER_FILE))
}

fn read_ledger_file(path: &Path) -> Ledger {
    read_ledger_checked(path).0
}

/// Whether `nm-mptcp release` gave the host back (and no `resume` since).
pub fn is_released(dir: &Path) -> bool {
    dir.join(RELEASED_FILE).symlink_metadata().is_ok()
}

fn read_ledger_checked(path: &Path) -> (Ledger, bool) {
    match files::read_regular(path, MAX_LEDGER_SIZE, Links::Refuse) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(ledger) => (ledger, false),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ledger is corrupt; rebuilding it");
                (Ledger::default(), true)
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => (Ledger::default(), false),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ledger is unreadable; rebuilding it");
            (Ledger::default(), true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nm_mptcp_core::flags::EndpointFlags;
    use nm_mptcp_core::model::KernelEndpoint;
    use nm_mptcp_core::ownership::LedgerEntry;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nm-mptcp-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn store_round_trips_and_survives_corruption() {
        let dir = temp_dir("store");
        let store = LedgerStore::lock(&dir, Duration::from_millis(50)).unwrap();
        assert_eq!(store.load(), Ledger::default());
        let ledger = Ledger {
            entries: vec![LedgerEntry::from_kernel(
                &KernelEndpoint::on_device(1, "192.0.2.1", 2, EndpointFlags::SUBFLOW),
                "e0",
                None,
                true,
            )],
            ..Ledger::default()
        };
        store.save(&ledger).unwrap();
        assert_eq!(store.load(), ledger);
        fs::write(dir.join(LEDGER_FILE), b"{not json").unwrap();
        assert_eq!(store.load(), Ledger::default());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        drop(store);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn second_locker_waits_then_gives_up_with_busy() {
        let dir = temp_dir("lock");
        let _held = LedgerStore::lock(&dir, Duration::from_millis(50)).unwrap();
        let err = LedgerStore::lock(&dir, Duration::from_millis(30))
            .err()
            .unwrap();
        assert_eq!(err.kind, ErrorKind::Busy);
        fs::remove_dir_all(&dir).unwrap();
    }
}
