//! The NetworkManager dispatcher's calling convention: `nm-mptcp IFACE ACTION` plus its
//! environment. Parsing is pure; odd input becomes a clear usage error.

use crate::error::Error;

/// Dispatcher actions nm-mptcp acts on; every other action is acknowledged and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Up,
    PreDown,
    Down,
    Reapply,
    Dhcp4Change,
    Dhcp6Change,
    ConnectivityChange,
    Ignored(String),
}

impl Action {
    fn parse(text: &str) -> Action {
        match text {
            "up" => Action::Up,
            "pre-down" => Action::PreDown,
            "down" => Action::Down,
            "reapply" => Action::Reapply,
            "dhcp4-change" => Action::Dhcp4Change,
            "dhcp6-change" => Action::Dhcp6Change,
            "connectivity-change" => Action::ConnectivityChange,
            other => Action::Ignored(other.to_owned()),
        }
    }

    /// NetworkManager changed what it applied without a signal that says so (a reapply of
    /// `connection.mptcp-flags` alone), or in a lease: a held view must be read again.
    pub fn refreshes_view(&self) -> bool {
        matches!(
            self,
            Action::Reapply | Action::Dhcp4Change | Action::Dhcp6Change
        )
    }

    /// The event's interface loses its endpoints even while NetworkManager still lists it.
    pub fn takes_interface_down(&self) -> bool {
        matches!(self, Action::PreDown | Action::Down)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `None` for events without a device (connectivity-change, hostname).
    pub interface: Option<String>,
    pub action: Action,
}

impl Event {
    /// The interface as nm-dispatcher names it: `none` for events without a device.
    pub fn interface_name(&self) -> &str {
        self.interface.as_deref().unwrap_or("none")
    }

    /// The interface this event takes down, if any.
    pub fn going_down(&self) -> Option<&str> {
        self.interface
            .as_deref()
            .filter(|_| self.action.takes_interface_down())
    }
}

/// Parse `IFACE ACTION` as nm-dispatcher passes them.
pub fn parse(args: &[String]) -> Result<Event, Error> {
    let [interface, action] = args else {
        return Err(Error::usage(format!(
            "a dispatcher event takes exactly IFACE ACTION, got {} argument(s)",
            args.len()
        )));
    };
    if action.is_empty()
        || !action
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(Error::usage(format!(
            "invalid dispatcher action {action:?}"
        )));
    }
    let interface = match interface.as_str() {
        "" | "none" => None,
        name if valid_interface_name(name) => Some(name.to_owned()),
        name => return Err(Error::usage(format!("invalid interface name {name:?}"))),
    };
    Ok(Event {
        interface,
        action: Action::parse(action),
    })
}

/// The kernel's rules for interface names (dev_valid_name).
fn valid_interface_name(name: &str) -> bool {
    name.len() < 16
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn known_actions_parse() {
        let e = parse(&args(&["enp4s0f0", "pre-down"])).unwrap();
        assert_eq!(e.action, Action::PreDown);
        assert_eq!(e.going_down(), Some("enp4s0f0"));
        let e = parse(&args(&["none", "connectivity-change"])).unwrap();
        assert_eq!(e.interface, None);
        assert_eq!(e.going_down(), None);
        assert_eq!(
            parse(&args(&["", "hostname"])).unwrap().action,
            Action::Ignored("hostname".into())
        );
        assert_eq!(parse(&args(&["e0", "up"])).unwrap().going_down(), None);
    }

    #[test]
    fn garbage_is_a_usage_error() {
        for bad in [
            args(&[]),
            args(&["e0"]),
            args(&["e0", "up", "x"]),
            args(&["e0", "UP"]),
            args(&["e0", ""]),
            args(&["e0", "up;rm"]),
            args(&["../etc", "up"]),
            args(&["averyveryverylongname", "up"]),
            args(&["e 0", "up"]),
        ] {
            let err = parse(&bad).unwrap_err();
            assert_eq!(err.kind, crate::error::ErrorKind::Usage, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(a in ".*", b in ".*") {
            let _ = parse(&[a, b]);
        }
    }
}
