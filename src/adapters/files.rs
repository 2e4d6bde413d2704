//! Files nm-mptcp reads and writes, opened so that what someone else put in their place
//! cannot hang it, exhaust its memory or redirect its writes: only regular files are read (a
//! FIFO is opened without blocking and refused), reads are bounded, and in nm-mptcp's own
//! run directory nothing follows a symlink and state is written to a fresh file.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix::libc;

/// Follow a symlink where the path is the administrator's (the configuration file), never
/// in the run directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Links {
    Follow,
    Refuse,
}

/// The whole of a regular file of at most `limit` bytes.
pub(crate) fn read_regular(path: &Path, limit: u64, links: Links) -> io::Result<Vec<u8>> {
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
    if links == Links::Refuse {
        flags |= libc::O_NOFOLLOW;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| refused_link(e, links))?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({})", kind(&metadata.file_type())),
        ));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}

/// Replace `path` (in the run directory) with `bytes`, atomically: written to a fresh
/// `path.tmp` (a stale one, or a symlink planted there, is removed first, not followed),
/// then renamed over `path`.
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_with_mode(path, bytes, 0o600)
}

/// `replace`, the file made with `mode` (a metrics file others read).
pub(crate) fn replace_with_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = Path::new(&tmp);
    match std::fs::remove_file(tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(tmp)?;
    // The process's umask (the unit's 0077) narrows the mode given at creation.
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.write_all(bytes)?;
    file.sync_data()?;
    std::fs::rename(tmp, path)
}

/// Open (creating it) a lock file in the run directory: never through a symlink, only a
/// regular file.
pub(crate) fn open_lock(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| refused_link(e, Links::Refuse))?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// The run directory must be a real directory of this user's, open to nobody else: a
/// symlink or someone else's directory there would let others read or steer nm-mptcp's state.
pub(crate) fn check_private_dir(dir: &Path) -> io::Result<()> {
    let metadata = std::fs::symlink_metadata(dir)?;
    let problem = if !metadata.is_dir() {
        Some(format!("not a directory ({})", kind(&metadata.file_type())))
    } else if metadata.uid() != nix::unistd::geteuid().as_raw() {
        Some(format!(
            "owned by uid {}, not by this user (nm-mptcp changes things as root only)",
            metadata.uid()
        ))
    } else if metadata.mode() & 0o022 != 0 {
        Some(format!(
            "writable by others (mode {:o})",
            metadata.mode() & 0o777
        ))
    } else {
        None
    };
    match problem {
        Some(problem) => Err(io::Error::new(io::ErrorKind::PermissionDenied, problem)),
        None => Ok(()),
    }
}

/// ELOOP from O_NOFOLLOW, said plainly.
fn refused_link(e: io::Error, links: Links) -> io::Error {
    if links == Links::Refuse && e.raw_os_error() == Some(libc::ELOOP) {
        io::Error::new(io::ErrorKind::InvalidInput, "a symlink (not followed)")
    } else {
        e
    }
}

fn kind(file_type: &std::fs::FileType) -> &'static str {
    if file_type.is_symlink() {
        "a symlink"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("nm-mptcp-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_fifo_a_device_or_an_endless_file_is_refused_at_once() {
        let dir = temp_dir("read");
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let started = std::time::Instant::now();
        let e = read_regular(&fifo, 1024, Links::Follow).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let e = read_regular(Path::new("/dev/zero"), 1024, Links::Follow).unwrap_err();
        assert!(e.to_string().contains("a device"), "{e}");
        let big = dir.join("big");
        std::fs::write(&big, vec![b'x'; 2000]).unwrap();
        let e = read_regular(&big, 1024, Links::Follow).unwrap_err();
        assert!(e.to_string().contains("larger than 1024"), "{e}");
        symlink(&big, dir.join("link")).unwrap();
        assert_eq!(
            read_regular(&dir.join("link"), 4096, Links::Follow)
                .unwrap()
                .len(),
            2000
        );
        let e = read_regular(&dir.join("link"), 4096, Links::Refuse).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn writes_never_go_through_a_planted_symlink() {
        let dir = temp_dir("write");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        symlink(&victim, dir.join("state.tmp")).unwrap();
        replace(&dir.join("state"), b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(dir.join("state")).unwrap(), "new");

        let target = dir.join("created-by-lock");
        symlink(&target, dir.join("lock")).unwrap();
        assert!(open_lock(&dir.join("lock")).is_err());
        assert!(!target.exists(), "the lock did not create its target");

        symlink(&dir, dir.join("run")).unwrap();
        assert!(check_private_dir(&dir.join("run")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
