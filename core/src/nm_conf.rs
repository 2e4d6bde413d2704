//! `connection.mptcp-flags` from NetworkManager.conf: the default a profile with `default` (0)
//! gets. It is invisible on D-Bus; the adapter `nm_conf_files` reads the files in
//! NetworkManager's order, and this decides from their text, per device, as
//! `_match_section_infos_lookup` and `nm_match_spec_device` do (nm-config-data.c,
//! nm-core-utils.c; the same from 1.42 to 1.58).

const KEY: &str = "connection.mptcp-flags";

/// What a device is, as `match-device` specs compare it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceMatch {
    /// The device's interface name.
    pub interface: String,
    /// NetworkManager's name for its type (`ethernet`, `veth`, `wifi`, ...).
    pub type_description: String,
    pub driver: String,
    pub driver_version: String,
    /// The MAC address (NetworkManager matches the permanent one, which D-Bus shows only on
    /// the device type's own interface; this is the current one, the same unless changed).
    pub hw_address: String,
}

/// The `[connection*]` sections of NetworkManager's configuration, in the order it looks a
/// key up in them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NmConf {
    sections: Vec<Section>,
}

/// One `[connection*]` section of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    exact: bool,
    /// `match-device`'s specs; `None` without the key (the section applies to every device).
    match_device: Option<Vec<String>>,
    stop_match: bool,
    value: Option<String>,
}

impl NmConf {
    /// The sections of these file contents (lowest precedence first): `[connection*]`
    /// sections of later files come first, in order of appearance within a file; the plain
    /// `[connection]` section comes last.
    pub fn parse(files: &[&str]) -> NmConf {
        let mut sections: Vec<Section> = Vec::new();
        for text in files.iter().rev() {
            sections.extend(parse_sections(text));
        }
        // Stable: plain [connection] sections move behind all others.
        sections.sort_by_key(|s| s.exact);
        NmConf { sections }
    }

    /// The `connection.mptcp-flags` default for this device: the first section that applies
    /// to it and sets the key; a section that applies and says `stop-match=yes` ends the
    /// search.
    pub fn mptcp_default(&self, device: &DeviceMatch) -> Option<i64> {
        self.sections
            .iter()
            .filter(|s| s.value.is_some() || s.stop_match)
            .find(|s| {
                s.match_device
                    .as_ref()
                    .is_none_or(|specs| specs_match(specs, device))
            })
            .and_then(|s| s.value.as_deref())
            .and_then(parse_number)
    }
}

fn parse_sections(text: &str) -> Vec<Section> {
    let mut found: Vec<Section> = Vec::new();
    let mut in_connection = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_connection = name.starts_with("connection");
            if in_connection {
                found.push(Section {
                    exact: name == "connection",
                    match_device: None,
                    stop_match: false,
                    value: None,
                });
            }
            continue;
        }
        let (Some(section), Some((key, value))) = (
            found.last_mut().filter(|_| in_connection),
            line.split_once('='),
        ) else {
            continue;
        };
        match key.trim() {
            "match-device" => section.match_device = Some(split_specs(value)),
            "stop-match" => section.stop_match = parse_boolean(value),
            KEY => section.value = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    found
}

/// `match-device`'s value as `nm_match_spec_split` splits it: at `,` and `;`, with `\,`,
/// `\;`, `\s`, `\t`, `\n`, `\r` and `\\` escapes (any other `\x` stays as it is), each spec
/// trimmed, empty ones dropped.
fn split_specs(value: &str) -> Vec<String> {
    let mut specs = Vec::new();
    let mut spec = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            ',' | ';' => specs.push(std::mem::take(&mut spec)),
            '\\' => match chars.next() {
                Some(',') => spec.push(','),
                Some(';') => spec.push(';'),
                Some('s') => spec.push(' '),
                Some('t') => spec.push('\t'),
                Some('n') => spec.push('\n'),
                Some('r') => spec.push('\r'),
                Some('\\') => spec.push('\\'),
                Some(other) => {
                    spec.push('\\');
                    spec.push(other);
                }
                None => spec.push('\\'),
            },
            c => spec.push(c),
        }
    }
    specs.push(spec);
    specs
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether a list of specs matches the device (`_match_result`): an `except:` spec that
/// matches excludes it; otherwise a positive spec must match, unless there are only
/// `except:` specs. An empty list matches nothing.
fn specs_match(specs: &[String], device: &DeviceMatch) -> bool {
    let mut has_positive = false;
    let mut positive = false;
    for spec in specs {
        match strip_prefix_ignore_case(spec, "except:") {
            Some(excluded) => {
                if spec_matches(excluded, device, true) {
                    return false;
                }
            }
            None => {
                has_positive = true;
                positive |= spec_matches(spec, device, false);
            }
        }
    }
    positive || (!has_positive && !specs.is_empty())
}

/// One spec (`match_device_eval`): tags are case-insensitive, values case-sensitive.
fn spec_matches(spec: &str, device: &DeviceMatch, excepted: bool) -> bool {
    if spec == "*" {
        return true;
    }
    if let Some(name) = strip_prefix_ignore_case(spec, "interface-name:") {
        return match name.strip_prefix('=') {
            Some(exact) => exact == device.interface,
            None => {
                let pattern = name.strip_prefix('~').unwrap_or(name);
                pattern == device.interface || glob(pattern, &device.interface)
            }
        };
    }
    if let Some(kind) = strip_prefix_ignore_case(spec, "type:") {
        return kind == device.type_description;
    }
    if let Some(driver) = strip_prefix_ignore_case(spec, "driver:") {
        return match driver.split_once('/') {
            Some((name, version)) => name == device.driver && glob(version, &device.driver_version),
            None => driver == device.driver,
        };
    }
    if let Some(mac) = strip_prefix_ignore_case(spec, "mac:") {
        return same_mac(mac, &device.hw_address);
    }
    let other_tag = ["s390-subchannels:", "dhcp-plugin:"]
        .iter()
        .any(|tag| strip_prefix_ignore_case(spec, tag).is_some());
    // Without a tag: the MAC address or the exact interface name, and only as a positive
    // spec (`except:eth0` excludes nothing).
    !excepted && !other_tag && (same_mac(spec, &device.hw_address) || spec == device.interface)
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// MAC addresses compared as bytes (`52:54:00:12:34:56`, `52-54-0-12-34-56`, any case).
fn same_mac(spec: &str, address: &str) -> bool {
    let bytes = |text: &str| -> Option<Vec<u8>> {
        text.split([':', '-'])
            .map(|part| {
                (!part.is_empty() && part.len() <= 2)
                    .then(|| u8::from_str_radix(part, 16).ok())
                    .flatten()
            })
            .collect()
    };
    matches!((bytes(spec), bytes(address)), (Some(a), Some(b)) if a.len() >= 6 && a == b)
}

/// `g_pattern_match_simple`: `*` any run, `?` any one character, nothing else special.
fn glob(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                resume = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match resume {
                Some((star, at)) => {
                    p = star + 1;
                    t = at + 1;
                    resume = Some((star, at + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// Booleans as NetworkManager reads `stop-match` (`_nm_utils_ascii_str_to_bool`).
fn parse_boolean(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "yes" | "true" | "1" | "on"
    )
}

/// NetworkManager's integer parsing: decimal, `0x` hex or leading-`0` octal, >= 0; anything
/// else counts as unset.
fn parse_number(text: &str) -> Option<i64> {
    let text = text.trim();
    let value = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()?
    } else if text.len() > 1 && text.starts_with('0') {
        i64::from_str_radix(&text[1..], 8).ok()?
    } else {
        text.parse().ok()?
    };
    (value >= 0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mptcp_default(files: &[&str]) -> Option<i64> {
        NmConf::parse(files).mptcp_default(&eth0())
    }

    fn eth0() -> DeviceMatch {
        DeviceMatch {
            interface: "eth0".into(),
            type_description: "ethernet".into(),
            driver: "e1000e".into(),
            driver_version: "3.2.6-k".into(),
            hw_address: "52:54:00:12:34:56".into(),
        }
    }

    fn matches(specs: &str) -> bool {
        specs_match(&split_specs(specs), &eth0())
    }

    #[test]
    fn specs_are_split_at_commas_and_semicolons_with_escapes() {
        assert_eq!(
            split_specs(" interface-name:eth0 ;type:ethernet,, except:mac:aa\\,b\\sc "),
            vec!["interface-name:eth0", "type:ethernet", "except:mac:aa,b c"]
        );
        assert!(split_specs("").is_empty());
    }

    #[test]
    fn each_kind_of_spec_matches_as_networkmanager_matches_it() {
        for yes in [
            "*",
            "interface-name:eth0",
            "INTERFACE-NAME:eth*",
            "interface-name:~e?h0",
            "interface-name:=eth0",
            "type:ethernet",
            "driver:e1000e",
            "driver:e1000e/3.*",
            "mac:52:54:00:12:34:56",
            "MAC:52:54:00:12:34:56",
            "mac:52-54-0-12-34-56",
            "eth0",
            "52:54:00:12:34:56",
            "interface-name:wlan0,type:ethernet",
        ] {
            assert!(matches(yes), "{yes}");
        }
        for no in [
            "",
            "interface-name:=eth*",
            "interface-name:Eth0",
            "type:veth",
            "type:eth*",
            "driver:e1000",
            "eth*",
            "interface-name: eth0",
            "dhcp-plugin:internal",
        ] {
            assert!(!matches(no), "{no}");
        }
    }

    #[test]
    fn except_excludes_and_alone_matches_everything_else() {
        assert!(!matches("except:interface-name:eth0"));
        assert!(matches("except:interface-name:wlan0"));
        assert!(!matches("type:ethernet,except:interface-name:eth*"));
        assert!(!matches("interface-name:wlan0,except:interface-name:wlan1"));
        // Untagged specs are inert behind except:.
        assert!(matches("except:eth0"));
    }

    #[test]
    fn the_first_section_that_applies_and_sets_the_key_wins_or_stop_match_ends_it() {
        let conf =
            "[connection-wlan]\nmatch-device=interface-name:wlan*\nconnection.mptcp-flags=0x42\n\
                    [connection-eth]\nmatch-device=type:ethernet\nconnection.mptcp-flags=0x12\n\
                    [connection]\nconnection.mptcp-flags=0x22\n";
        assert_eq!(mptcp_default(&[conf]), Some(0x12));
        let wlan = DeviceMatch {
            interface: "wlan0".into(),
            type_description: "wifi".into(),
            ..DeviceMatch::default()
        };
        assert_eq!(NmConf::parse(&[conf]).mptcp_default(&wlan), Some(0x42));
        let stop = "[connection-stop]\nmatch-device=interface-name:eth0\nstop-match=yes\n\
                    [connection]\nconnection.mptcp-flags=0x22\n";
        assert_eq!(mptcp_default(&[stop]), None, "the built-in default");
        assert_eq!(NmConf::parse(&[stop]).mptcp_default(&wlan), Some(0x22));
        // A section without the key and without stop-match is passed over unmatched.
        let keyless = "[connection-x]\nmatch-device=interface-name:eth0\nipv6.ip6-privacy=2\n\
                       [connection]\nconnection.mptcp-flags=0x22\n";
        assert_eq!(mptcp_default(&[keyless]), Some(0x22));
    }

    #[test]
    fn numbers_are_parsed_like_networkmanager() {
        assert_eq!(parse_number("0x12"), Some(0x12));
        assert_eq!(parse_number("18"), Some(18));
        assert_eq!(parse_number("022"), Some(0o22));
        assert_eq!(parse_number("0"), Some(0));
        assert_eq!(parse_number("signal,subflow"), None);
        assert_eq!(parse_number("-3"), None);
        assert_eq!(parse_number(""), None);
    }

    #[test]
    fn later_files_and_earlier_sections_win_plain_connection_last() {
        let main = "[connection]\nconnection.mptcp-flags=0x22\n";
        let conf_d = "[connection-mptcp]\nconnection.mptcp-flags=0x12\n[connection-other]\nconnection.mptcp-flags=0x42\n";
        assert_eq!(mptcp_default(&[main]), Some(0x22));
        assert_eq!(mptcp_default(&[main, conf_d]), Some(0x12));
        // A plain [connection] in a later file still comes after named sections.
        assert_eq!(mptcp_default(&[conf_d, main]), Some(0x12));
        let later = "[connection-z]\nconnection.mptcp-flags=0x62\n";
        assert_eq!(mptcp_default(&[main, conf_d, later]), Some(0x62));
    }

    #[test]
    fn comments_and_other_sections_and_keys_are_skipped() {
        let text = "# comment\n[main]\nconnection.mptcp-flags=0x99\n[connection]\n; x\nipv6.ip6-privacy=2\n";
        assert_eq!(mptcp_default(&[text]), None);
        assert_eq!(
            mptcp_default(&["[connection]\nconnection.mptcp-flags = 0x32\n"]),
            Some(0x32)
        );
    }

    proptest::proptest! {
        /// Any NetworkManager.conf text and any device: a default or none, never a panic.
        #[test]
        fn fuzz_networkmanager_conf_never_panics(
            text in "(\\[connection.{0,6}\\]|\\[device\\]|match-device=|stop-match=|connection.mptcp-flags=|interface-name:|type:|driver:|mac:|except:|\\*|~|=|,|;|\\\\|\\n|.){0,40}",
            interface in ".{0,8}",
        ) {
            let conf = NmConf::parse(&[&text]);
            let device = DeviceMatch { interface, ..DeviceMatch::default() };
            let _ = conf.mptcp_default(&device);
        }

        #[test]
        fn fuzz_networkmanager_versions_never_panic(text in "[0-9.a-z~+-]{0,16}") {
            let _ = text.parse::<crate::nm_version::NmVersion>();
        }
    }
}
