//! `connection.mptcp-flags` from NetworkManager.conf: the default a profile with `default` (0)
//! gets. It is invisible on D-Bus; the adapter `nm_conf_files` reads the files in
//! NetworkManager's order, and this decides from their text.

const KEY: &str = "connection.mptcp-flags";

/// One `[connection*]` section of one file.
struct Section {
    exact: bool,
    device_specific: bool,
    value: Option<String>,
}

/// Pure: the value NetworkManager takes from these file contents (lowest precedence first).
/// `[connection*]` sections of later files come first, in order of appearance within a file;
/// the plain `[connection]` section comes last; the first section that sets the key wins.
/// Sections limited by `match-device` are skipped: they cannot be told apart from here.
pub fn mptcp_default(files: &[&str]) -> Option<i64> {
    let mut ordered: Vec<Section> = Vec::new();
    for text in files.iter().rev() {
        ordered.extend(sections(text));
    }
    // Stable: plain [connection] sections move behind all others.
    ordered.sort_by_key(|s| s.exact);
    ordered
        .into_iter()
        .filter(|s| !s.device_specific)
        .find_map(|s| s.value)
        .and_then(|v| parse_number(&v))
}

fn sections(text: &str) -> Vec<Section> {
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
                    device_specific: false,
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
            "match-device" => section.device_specific = true,
            KEY => section.value = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    found
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
    fn device_specific_sections_comments_and_other_keys_are_skipped() {
        let text = "# comment\n[main]\nconnection.mptcp-flags=0x99\n[connection-eth]\nmatch-device=interface-name:eth0\nconnection.mptcp-flags=0x42\n[connection]\n; x\nipv6.ip6-privacy=2\n";
        assert_eq!(mptcp_default(&[text]), None);
        assert_eq!(
            mptcp_default(&["[connection]\nconnection.mptcp-flags = 0x32\n"]),
            Some(0x32)
        );
    }
}
