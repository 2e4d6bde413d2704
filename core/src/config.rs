//! nm-mptcp's configuration (`/etc/nm-mptcp/config.toml`): optional, every key has a default.
//! Parsing is pure: errors name the file, the line and the key, and nothing is applied from a
//! file that has one. Reading the file is the adapter `config_file`.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, ErrorKind};

use crate::model::MPTCP_PM_ADDR_MAX;

/// The kernel's maximum for both limits.
pub const LIMIT_MAX: u32 = MPTCP_PM_ADDR_MAX as u32;

/// How one `ip mptcp limits` value is managed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSetting {
    /// Derived from the endpoints nm-mptcp manages.
    Auto,
    /// Never touched.
    Keep,
    /// This value.
    Value(u32),
}

impl std::fmt::Display for LimitSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitSetting::Auto => f.write_str("auto"),
            LimitSetting::Keep => f.write_str("keep"),
            LimitSetting::Value(v) => write!(f, "{v}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub subflows: LimitSetting,
    pub add_addr_accepted: LimitSetting,
    /// Set `net.mptcp.enabled = 1` (the seed's step 1).
    pub enable_mptcp: bool,
    /// Relax strict rp_filter (1 -> 2) on interfaces with endpoints, as NetworkManager does.
    pub relax_rp_filter: bool,
    /// The daemon reapplies an active profile whose saved settings differ from the applied
    /// ones only in `connection.mptcp-flags` (`[profiles] apply_on_modify`).
    pub apply_on_modify: bool,
    /// Endpoints of devices NetworkManager reports metered get the `backup` flag
    /// (`[profiles] metered_as_backup`): traffic stays off phone tethering and WWAN while
    /// another path works. Not a NetworkManager rule: off by default.
    pub metered_as_backup: bool,
    /// How often the daemon checks the kernel for endpoints and limits of its own that went
    /// missing (`[daemon] check_interval`, seconds); `None` never.
    pub check_interval: Option<std::time::Duration>,
    /// A directory where the daemon keeps `nm_mptcp.prom` current for node_exporter's
    /// textfile collector (`[metrics] textfile`); `None`: no file.
    pub metrics_textfile: Option<std::path::PathBuf>,
    /// How often the daemon rewrites it (`[metrics] interval`, seconds).
    pub metrics_interval: std::time::Duration,
}

/// `[metrics] interval` by default: node_exporter is scraped every 15 s commonly.
pub const METRICS_INTERVAL_DEFAULT: u64 = 15;

/// `[daemon] check_interval` by default: a flush is repaired within this, and a dump costs
/// about a millisecond.
pub const CHECK_INTERVAL_DEFAULT: u64 = 5;
/// The longest interval accepted (a day), for `[daemon]` and `[metrics]`.
const CHECK_INTERVAL_MAX: i64 = 86_400;

impl Default for Config {
    fn default() -> Config {
        Config {
            subflows: LimitSetting::Auto,
            add_addr_accepted: LimitSetting::Auto,
            enable_mptcp: false,
            relax_rp_filter: true,
            apply_on_modify: false,
            metered_as_backup: false,
            check_interval: Some(std::time::Duration::from_secs(CHECK_INTERVAL_DEFAULT)),
            metrics_textfile: None,
            metrics_interval: std::time::Duration::from_secs(METRICS_INTERVAL_DEFAULT),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(
    deny_unknown_fields,
    expecting = "tables [limits], [kernel], [rp_filter], [profiles], [daemon] and [metrics]"
)]
struct RawConfig {
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    kernel: RawKernel,
    #[serde(default)]
    rp_filter: RawRpFilter,
    #[serde(default)]
    profiles: RawProfiles,
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default)]
    metrics: RawMetrics,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a table [metrics]")]
struct RawMetrics {
    textfile: Option<Spanned<toml::Value>>,
    interval: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a table [profiles]")]
struct RawProfiles {
    apply_on_modify: Option<Spanned<toml::Value>>,
    metered_as_backup: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a table [daemon]")]
struct RawDaemon {
    check_interval: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a table [limits]")]
struct RawLimits {
    subflows: Option<Spanned<toml::Value>>,
    add_addr_accepted: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a table [kernel]")]
struct RawKernel {
    enable_mptcp: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a table [rp_filter]")]
struct RawRpFilter {
    relax: Option<Spanned<toml::Value>>,
}

/// A value as an error quotes it: at most 40 characters (a value may be a 10 MB string).
fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Pure: the configuration in `text`, read from `path` (named in errors).
pub fn parse(text: &str, path: &Path) -> Result<Config, Error> {
    let error = |span: Option<std::ops::Range<usize>>, message: String| {
        let line = span.map_or(0, |s| line_of(text, s.start));
        Error::new(
            ErrorKind::Config,
            format!("{}:{line}: {message}", path.display()),
        )
    };
    let raw: RawConfig =
        toml::from_str(text).map_err(|e| error(e.span(), e.message().trim().to_owned()))?;
    let limit = |key: &str, value: Option<Spanned<toml::Value>>| -> Result<LimitSetting, Error> {
        let Some(value) = value else {
            return Ok(LimitSetting::Auto);
        };
        let span = value.span();
        match value.into_inner() {
            toml::Value::String(s) if s == "auto" => Ok(LimitSetting::Auto),
            toml::Value::String(s) if s == "keep" => Ok(LimitSetting::Keep),
            toml::Value::Integer(n) if (0..=i64::from(LIMIT_MAX)).contains(&n) => Ok(LimitSetting::Value(n as u32)),
            _ => Err(error(
                Some(span.clone()),
                format!(
                    "limits.{key}: expected \"auto\", \"keep\" or a number from 0 to {LIMIT_MAX}, got {}",
                    excerpt(text.get(span).unwrap_or("?"))
                ),
            )),
        }
    };
    // Whole seconds from `min` to a day.
    let seconds = |key: &str, value: Option<Spanned<toml::Value>>, min: i64| {
        let Some(value) = value else {
            return Ok(None);
        };
        let span = value.span();
        match value.into_inner() {
            toml::Value::Integer(n) if (min..=CHECK_INTERVAL_MAX).contains(&n) => {
                Ok(Some(n as u64))
            }
            _ => Err(error(
                Some(span.clone()),
                format!(
                    "{key}: expected seconds from {min}{} to {CHECK_INTERVAL_MAX}, got {}",
                    if min == 0 { " (never)" } else { "" },
                    excerpt(text.get(span).unwrap_or("?"))
                ),
            )),
        }
    };
    let boolean = |key: &str, value: Option<Spanned<toml::Value>>, default: bool| {
        let Some(value) = value else {
            return Ok(default);
        };
        let span = value.span();
        match value.into_inner() {
            toml::Value::Boolean(b) => Ok(b),
            _ => Err(error(
                Some(span.clone()),
                format!(
                    "{key}: expected true or false, got {}",
                    excerpt(text.get(span).unwrap_or("?"))
                ),
            )),
        }
    };
    Ok(Config {
        subflows: limit("subflows", raw.limits.subflows)?,
        add_addr_accepted: limit("add_addr_accepted", raw.limits.add_addr_accepted)?,
        enable_mptcp: boolean("kernel.enable_mptcp", raw.kernel.enable_mptcp, false)?,
        relax_rp_filter: boolean("rp_filter.relax", raw.rp_filter.relax, true)?,
        apply_on_modify: boolean(
            "profiles.apply_on_modify",
            raw.profiles.apply_on_modify,
            false,
        )?,
        metered_as_backup: boolean(
            "profiles.metered_as_backup",
            raw.profiles.metered_as_backup,
            false,
        )?,
        check_interval: match seconds("daemon.check_interval", raw.daemon.check_interval, 0)? {
            None => Config::default().check_interval,
            Some(0) => None,
            Some(n) => Some(std::time::Duration::from_secs(n)),
        },
        metrics_textfile: match raw.metrics.textfile {
            None => None,
            Some(value) => {
                let span = value.span();
                match value.into_inner() {
                    toml::Value::String(dir) if dir.starts_with('/') => Some(dir.into()),
                    _ => {
                        return Err(error(
                            Some(span.clone()),
                            format!(
                                "metrics.textfile: expected an absolute directory path, got {}",
                                excerpt(text.get(span).unwrap_or("?"))
                            ),
                        ))
                    }
                }
            }
        },
        metrics_interval: std::time::Duration::from_secs(
            seconds("metrics.interval", raw.metrics.interval, 1)?
                .unwrap_or(METRICS_INTERVAL_DEFAULT),
        ),
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, Error> {
        parse(text, Path::new("/etc/nm-mptcp/config.toml"))
    }

    fn message(text: &str) -> String {
        let err = parse_str(text).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        err.message
    }

    #[test]
    fn errors_name_the_key_or_table_and_quote_values_briefly() {
        let m = message("limits = 3\n");
        assert!(m.contains(":1:") && m.contains("a table [limits]"), "{m}");
        assert!(!m.contains("Raw"), "{m}");
        let m = message("[kernel]\nenable_mptcp = \"yes\"\n");
        assert!(
            m.contains(":2: kernel.enable_mptcp: expected true or false, got \"yes\""),
            "{m}"
        );
        let m = message("[rp_filter]\nrelax = 1\n");
        assert!(m.contains("rp_filter.relax"), "{m}");
        let m = message("[metrics]\ninterval = 0\n");
        assert!(
            m.contains(":2: metrics.interval: expected seconds from 1 to"),
            "{m}"
        );
        let m = message("[metrics]\ntextfile = \"relative\"\n");
        assert!(
            m.contains("metrics.textfile: expected an absolute directory"),
            "{m}"
        );
        let metrics = parse_str(
            "[metrics]\ntextfile = \"/var/lib/prometheus/node-exporter\"\ninterval = 5\n",
        )
        .unwrap();
        assert_eq!(
            (
                metrics.metrics_textfile.unwrap(),
                metrics.metrics_interval.as_secs()
            ),
            ("/var/lib/prometheus/node-exporter".into(), 5)
        );
        let m = message("[daemon]\ncheck_interval = -1\n");
        assert!(
            m.contains(":2: daemon.check_interval: expected seconds"),
            "{m}"
        );
        assert_eq!(
            parse_str("[daemon]\ncheck_interval = 2\n")
                .unwrap()
                .check_interval,
            Some(std::time::Duration::from_secs(2))
        );
        let m = message(&format!(
            "[limits]\nsubflows = \"{}\"\n",
            "x".repeat(10_000_000)
        ));
        assert!(m.len() < 200, "{} bytes", m.len());
    }

    #[test]
    fn an_empty_file_means_defaults() {
        assert_eq!(parse_str("").unwrap(), Config::default());
    }

    #[test]
    fn every_key_parses() {
        let config = parse_str(
            "[limits]\nsubflows = 3\nadd_addr_accepted = \"keep\"\n[kernel]\nenable_mptcp = true\n[rp_filter]\nrelax = false\n[profiles]\napply_on_modify = true\nmetered_as_backup = true\n[daemon]\ncheck_interval = 0\n[metrics]\ntextfile = \"/tmp/m\"\ninterval = 2\n",
        )
        .unwrap();
        assert_eq!(
            config,
            Config {
                subflows: LimitSetting::Value(3),
                add_addr_accepted: LimitSetting::Keep,
                enable_mptcp: true,
                relax_rp_filter: false,
                apply_on_modify: true,
                metered_as_backup: true,
                check_interval: None,
                metrics_textfile: Some("/tmp/m".into()),
                metrics_interval: std::time::Duration::from_secs(2),
            }
        );
        assert_eq!(
            parse_str("[limits]\nsubflows = \"auto\"\n")
                .unwrap()
                .subflows,
            LimitSetting::Auto
        );
        assert_eq!(
            parse_str("[limits]\nsubflows = 0\n").unwrap().subflows,
            LimitSetting::Value(0)
        );
    }

    #[test]
    fn values_over_8_name_file_line_and_key() {
        let m = message("# limits\n[limits]\nsubflows = 9\n");
        assert!(
            m.starts_with("/etc/nm-mptcp/config.toml:3: limits.subflows:"),
            "{m}"
        );
        let m = message("[limits]\nadd_addr_accepted = -1\n");
        assert!(m.contains(":2: limits.add_addr_accepted"), "{m}");
    }

    #[test]
    fn wrong_types_name_the_key() {
        let m = message("[limits]\nsubflows = \"many\"\n");
        assert!(
            m.contains(":2: limits.subflows") && m.contains("many"),
            "{m}"
        );
        let m = message("[limits]\nsubflows = 2.5\n");
        assert!(m.contains("limits.subflows"), "{m}");
        let m = message("[kernel]\nenable_mptcp = \"yes\"\n");
        assert!(m.contains(":2:"), "{m}");
    }

    #[test]
    fn unknown_keys_and_sections_are_refused() {
        let m = message("[limits]\nsubflow = 3\n");
        assert!(m.contains(":2:") && m.contains("subflow"), "{m}");
        let m = message("\n[limit]\nsubflows = 3\n");
        assert!(m.contains(":2:") && m.contains("limit"), "{m}");
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let m = message("[limits]\nsubflows = \n");
        assert!(m.contains(":2:"), "{m}");
    }

    proptest::proptest! {
        /// Any text, and text made of the file's own pieces: a configuration or a Config
        /// error naming the file, never a panic.
        #[test]
        fn fuzz_config_never_panics(
            text in "(\\[limits\\]|\\[kernel\\]|\\[rp_filter\\]|\\[profiles\\]|\\[daemon\\]|apply_on_modify|check_interval|subflows|add_addr_accepted|enable_mptcp|relax| = |\"auto\"|\"keep\"|true|9|-1|\\n|.){0,40}",
        ) {
            if let Err(e) = parse_str(&text) {
                proptest::prop_assert_eq!(e.kind, ErrorKind::Config);
                proptest::prop_assert!(e.message.starts_with("/etc/nm-mptcp/config.toml:"));
            }
        }
    }
}
