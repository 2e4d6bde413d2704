//! NetworkManager.conf's files, read in NetworkManager's order, for the `connection.mptcp-flags`
//! default (the core's `nm_conf` decides from their text).

use super::files::{read_regular, Links};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use nm_mptcp_core::nm_conf::NmConf;

/// Where NetworkManager reads its configuration, lowest precedence first.
pub(crate) struct ConfPaths {
    pub(crate) system_dir: PathBuf,
    pub(crate) run_dir: PathBuf,
    pub(crate) main_file: PathBuf,
    pub(crate) dir: PathBuf,
}

impl Default for ConfPaths {
    fn default() -> ConfPaths {
        ConfPaths {
            system_dir: "/usr/lib/NetworkManager/conf.d".into(),
            run_dir: "/run/NetworkManager/conf.d".into(),
            main_file: "/etc/NetworkManager/NetworkManager.conf".into(),
            dir: "/etc/NetworkManager/conf.d".into(),
        }
    }
}

impl ConfPaths {
    /// Where the running NetworkManager (process `pid`) reads its configuration: the
    /// defaults, moved by its `--config`, `--config-dir` and `--system-config-dir`.
    pub(crate) fn of_process(pid: Option<u32>) -> ConfPaths {
        let command_line = pid
            .and_then(|pid| fs::read(format!("/proc/{pid}/cmdline")).ok())
            .unwrap_or_default();
        let args: Vec<&str> = command_line
            .split(|b| *b == 0)
            .filter_map(|arg| std::str::from_utf8(arg).ok())
            .collect();
        ConfPaths::from_command_line(&args)
    }

    /// NetworkManager's options as GLib parses them: `--name=VALUE` or `--name VALUE`.
    fn from_command_line(args: &[&str]) -> ConfPaths {
        let mut paths = ConfPaths::default();
        let mut words = args.iter().skip(1);
        while let Some(word) = words.next() {
            let (name, inline) = match word.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (*word, None),
            };
            let slot = match name {
                "--config" => &mut paths.main_file,
                "--config-dir" => &mut paths.dir,
                "--system-config-dir" => &mut paths.system_dir,
                _ => continue,
            };
            if let Some(value) = inline.or_else(|| words.next().copied()) {
                *slot = PathBuf::from(value);
            }
        }
        paths
    }
}

/// The files in the order NetworkManager reads them: /usr/lib, /run (each shadowed by a
/// file of the same name in a later directory), the main file, then /etc's conf.d, each
/// directory's `*.conf` sorted by name.
fn files(paths: &ConfPaths) -> Vec<PathBuf> {
    let list = |dir: &Path| -> BTreeMap<String, PathBuf> {
        fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                (name.ends_with(".conf") && !name.starts_with('.')).then(|| (name, e.path()))
            })
            .collect()
    };
    let (system, run, etc) = (
        list(&paths.system_dir),
        list(&paths.run_dir),
        list(&paths.dir),
    );
    let mut files: Vec<PathBuf> = system
        .iter()
        .filter(|(name, _)| !run.contains_key(*name) && !etc.contains_key(*name))
        .map(|(_, p)| p.clone())
        .collect();
    files.extend(
        run.iter()
            .filter(|(n, _)| !etc.contains_key(*n))
            .map(|(_, p)| p.clone()),
    );
    files.push(paths.main_file.clone());
    files.extend(etc.into_values());
    files
}

/// NetworkManager's own files are small; anything bigger is not one.
const MAX_CONF_SIZE: u64 = 1024 * 1024;

/// The configuration of the running NetworkManager (process `pid`), read now.
pub(crate) fn read_of_process(pid: Option<u32>) -> NmConf {
    read(&ConfPaths::of_process(pid))
}

/// The `[connection*]` sections of NetworkManager's configuration files.
pub(crate) fn read(paths: &ConfPaths) -> NmConf {
    let texts: Vec<String> = files(paths)
        .iter()
        .filter_map(|p| read_regular(p, MAX_CONF_SIZE, Links::Follow).ok())
        .filter_map(|bytes| String::from_utf8(bytes).ok())
        .collect();
    NmConf::parse(&texts.iter().map(String::as_str).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networkmanagers_command_line_moves_its_configuration() {
        let paths = ConfPaths::from_command_line(&[
            "NetworkManager",
            "--no-daemon",
            "--config=/tmp/lab/NetworkManager.conf",
            "--config-dir",
            "/srv/nm/conf.d",
            "--debug",
        ]);
        assert_eq!(
            paths.main_file,
            PathBuf::from("/tmp/lab/NetworkManager.conf")
        );
        assert_eq!(paths.dir, PathBuf::from("/srv/nm/conf.d"));
        assert_eq!(paths.system_dir, ConfPaths::default().system_dir);
        let plain = ConfPaths::from_command_line(&["/usr/sbin/NetworkManager", "--no-daemon"]);
        assert_eq!(plain.main_file, ConfPaths::default().main_file);
        assert_eq!(ConfPaths::of_process(None).dir, ConfPaths::default().dir);
    }

    #[test]
    fn files_follow_networkmanager_directory_order_and_shadowing() {
        let root = std::env::temp_dir().join(format!("nm-mptcp-conf-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let paths = ConfPaths {
            system_dir: root.join("lib"),
            run_dir: root.join("run"),
            main_file: root.join("NetworkManager.conf"),
            dir: root.join("etc"),
        };
        for d in [&paths.system_dir, &paths.run_dir, &paths.dir] {
            fs::create_dir_all(d).unwrap();
        }
        fs::write(
            paths.system_dir.join("10-a.conf"),
            "[connection-a]\nconnection.mptcp-flags=0x42\n",
        )
        .unwrap();
        fs::write(
            paths.main_file.clone(),
            "[connection]\nconnection.mptcp-flags=0x22\n",
        )
        .unwrap();
        let any = nm_mptcp_core::nm_conf::DeviceMatch::default();
        assert_eq!(read(&paths).mptcp_default(&any), Some(0x42));
        // An /etc file of the same name shadows the packaged one.
        fs::write(paths.dir.join("10-a.conf"), "# nothing\n").unwrap();
        assert_eq!(read(&paths).mptcp_default(&any), Some(0x22));
        fs::remove_dir_all(&root).unwrap();
    }
}
