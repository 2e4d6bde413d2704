//! The ownership ledger: which kernel endpoints nm-mptcp created or adopted, kept in
//! `/run/nm-mptcp/` (gone after a reboot, like the endpoints themselves) under a lock so that
//! racing events take turns.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::model::{DesiredEndpoint, KernelEndpoint, ProfileRef};

const RUN_DIR: &str = "/run/nm-mptcp";
const LEDGER_FILE: &str = "ledger.json";
const LOCK_FILE: &str = "lock";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub entries: Vec<LedgerEntry>,
    /// Interfaces whose rp_filter nm-mptcp changed from 1 to 2 (to put back later).
    #[serde(default)]
    pub rp_filter_relaxed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: u8,
    pub address: IpAddr,
    pub ifindex: Option<u32>,
    pub interface: String,
    /// Kernel flag bits, as added.
    pub flags: u32,
    pub profile: Option<ProfileRef>,
    /// nm-mptcp added it (true) or found it already exactly as wanted, e.g. made by
    /// NetworkManager's own MPTCP support (false). Only created endpoints are ever deleted.
    pub created: bool,
}

impl LedgerEntry {
    pub fn from_kernel(
        k: &KernelEndpoint,
        interface: &str,
        profile: Option<ProfileRef>,
        created: bool,
    ) -> LedgerEntry {
        LedgerEntry {
            id: k.id,
            address: k.address,
            ifindex: k.ifindex,
            interface: interface.to_owned(),
            flags: k.flags.bits(),
            profile,
            created,
        }
    }

    fn is(&self, k: &KernelEndpoint) -> bool {
        self.id == k.id && self.address == k.address
    }
}

impl Ledger {
    fn entry(&self, k: &KernelEndpoint) -> Option<&LedgerEntry> {
        self.entries.iter().find(|e| e.is(k))
    }

    /// nm-mptcp manages this kernel endpoint (created or adopted). Matched by id and address,
    /// so an id the kernel hands to someone else later is not mistaken for ours.
    pub fn owns(&self, k: &KernelEndpoint) -> bool {
        self.entry(k).is_some()
    }

    /// The profile nm-mptcp recorded for this kernel endpoint.
    pub fn profile_of(&self, k: &KernelEndpoint) -> Option<&ProfileRef> {
        self.entry(k).and_then(|e| e.profile.as_ref())
    }

    /// nm-mptcp itself added this kernel endpoint.
    pub fn created(&self, k: &KernelEndpoint) -> bool {
        self.entry(k).is_some_and(|e| e.created)
    }

    /// The ledger after an apply: every kernel endpoint that is now exactly as planned is ours
    /// (created if we added its address in this run or earlier, else adopted), and endpoints
    /// we created that could not be deleted stay recorded so a later event retries.
    pub fn after_apply(
        &self,
        desired: &[DesiredEndpoint],
        kernel: &[KernelEndpoint],
        added: &HashSet<IpAddr>,
    ) -> Ledger {
        let entries = kernel
            .iter()
            .filter_map(|k| match desired.iter().find(|d| d.is_held_by(k)) {
                Some(d) => Some(LedgerEntry::from_kernel(
                    k,
                    &d.interface,
                    Some(d.profile.clone()),
                    self.created(k) || added.contains(&k.address),
                )),
                None => self.entry(k).filter(|e| e.created).cloned(),
            })
            .collect();
        Ledger {
            entries,
            rp_filter_relaxed: self.rp_filter_relaxed.clone(),
        }
    }
}

/// `/run/nm-mptcp`, or `NM_MPTCP_RUN_DIR` where a test or a packager moves it.
pub fn run_dir() -> PathBuf {
    std::env::var_os("NM_MPTCP_RUN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(RUN_DIR))
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

    pub fn save(&self, ledger: &Ledger) -> Result<(), Error> {
        let path = self.dir.join(LEDGER_FILE);
        let tmp = self.dir.join(format!("{LEDGER_FILE}.tmp"));
        let write = || -> io::Result<()> {
            let mut file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&serde_json::to_vec_pretty(ledger).map_err(io::Error::other)?)?;
            file.sync_data()?;
            fs::rename(&tmp, &path)
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
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(dir.join(name))
        .map_err(|e| io_error("cannot open a lock in", e))?;
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
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "ledger is corrupt; rebuilding it");
            Ledger::default()
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ledger::default(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ledger is unreadable; rebuilding it");
            Ledger::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::EndpointFlags;

    fn k(id: u8, address: &str) -> KernelEndpoint {
        KernelEndpoint {
            id,
            address: address.parse().unwrap(),
            ifindex: Some(2),
            port: 0,
            flags: EndpointFlags::SUBFLOW,
        }
    }

    fn d(address: &str) -> DesiredEndpoint {
        DesiredEndpoint {
            address: address.parse().unwrap(),
            ifindex: 2,
            interface: "e0".into(),
            flags: EndpointFlags::SUBFLOW,
            profile: ProfileRef {
                id: "p0".into(),
                uuid: "u0".into(),
            },
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nm-mptcp-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn after_apply_records_created_adopted_and_undeleted() {
        let old = Ledger {
            entries: vec![LedgerEntry::from_kernel(
                &k(3, "192.0.2.9"),
                "e0",
                None,
                true,
            )],
            ..Ledger::default()
        };
        let kernel = [
            k(1, "192.0.2.1"),
            k(2, "192.0.2.2"),
            k(3, "192.0.2.9"),
            k(4, "203.0.113.1"),
        ];
        let added: HashSet<IpAddr> = ["192.0.2.1".parse().unwrap()].into();
        let new = old.after_apply(&[d("192.0.2.1"), d("192.0.2.2")], &kernel, &added);
        let summary: Vec<_> = new.entries.iter().map(|e| (e.id, e.created)).collect();
        assert_eq!(summary, vec![(1, true), (2, false), (3, true)]);
    }

    #[test]
    fn store_round_trips_and_survives_corruption() {
        let dir = temp_dir("store");
        let store = LedgerStore::lock(&dir, Duration::from_millis(50)).unwrap();
        assert_eq!(store.load(), Ledger::default());
        let ledger = Ledger {
            entries: vec![LedgerEntry::from_kernel(
                &k(1, "192.0.2.1"),
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
