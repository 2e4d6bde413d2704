//! The NetworkManager dispatcher's calling convention: `IFACE ACTION` (whether these are an
//! event at all is `cli::hook_arguments`'s call). Parsing is pure; odd input becomes a clear
//! usage error.

use std::ffi::OsStr;

use nm_mptcp_core::error::Error;
use nm_mptcp_core::model::is_valid_interface_name;

/// Dispatcher actions nm-mptcp acts on; every other action is acknowledged and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
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
    /// Every action nm-mptcp acts on, in nm-dispatcher's order.
    pub(crate) const HANDLED: [Action; 7] = [
        Action::Up,
        Action::PreDown,
        Action::Down,
        Action::Reapply,
        Action::Dhcp4Change,
        Action::Dhcp6Change,
        Action::ConnectivityChange,
    ];

    /// nm-dispatcher's name for the action.
    pub(crate) fn name(&self) -> &str {
        match self {
            Action::Up => "up",
            Action::PreDown => "pre-down",
            Action::Down => "down",
            Action::Reapply => "reapply",
            Action::Dhcp4Change => "dhcp4-change",
            Action::Dhcp6Change => "dhcp6-change",
            Action::ConnectivityChange => "connectivity-change",
            Action::Ignored(other) => other,
        }
    }

    fn parse(text: &str) -> Action {
        Action::HANDLED
            .into_iter()
            .find(|a| a.name() == text)
            .unwrap_or_else(|| Action::Ignored(text.to_owned()))
    }

    /// NetworkManager changed what it applied without a signal that says so (a reapply of
    /// `connection.mptcp-flags` alone), or in a lease: a held view must be read again.
    pub(crate) fn refreshes_view(&self) -> bool {
        matches!(
            self,
            Action::Reapply | Action::Dhcp4Change | Action::Dhcp6Change
        )
    }

    /// The event's interface loses its endpoints even while NetworkManager still lists it.
    pub(crate) fn takes_interface_down(&self) -> bool {
        matches!(self, Action::PreDown | Action::Down)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// `None` for events without a device (connectivity-change, hostname).
    pub(crate) interface: Option<String>,
    pub(crate) action: Action,
}

impl Event {
    /// The interface as nm-dispatcher names it: `none` for events without a device.
    pub(crate) fn interface_name(&self) -> &str {
        self.interface.as_deref().unwrap_or("none")
    }

    /// The interface this event takes down, if any.
    pub(crate) fn going_down(&self) -> Option<&str> {
        self.interface
            .as_deref()
            .filter(|_| self.action.takes_interface_down())
    }
}

/// Parse `IFACE ACTION` as nm-dispatcher passes them (arguments that are not UTF-8 are a
/// usage error, like any other odd input).
pub(crate) fn parse<A: AsRef<OsStr>>(args: &[A]) -> Result<Event, Error> {
    let [interface, action] = args else {
        return Err(Error::usage(format!(
            "a dispatcher event takes exactly IFACE ACTION, got {} argument(s)",
            args.len()
        )));
    };
    let text = |arg: &A, what: &str| {
        arg.as_ref().to_str().map(str::to_owned).ok_or_else(|| {
            Error::usage(format!(
                "the dispatcher's {what} is not UTF-8: {:?}",
                arg.as_ref()
            ))
        })
    };
    let (interface, action) = (text(interface, "interface")?, text(action, "action")?);
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
        name if is_valid_interface_name(name) => Some(name.to_owned()),
        name => return Err(Error::usage(format!("invalid interface name {name:?}"))),
    };
    Ok(Event {
        interface,
        action: Action::parse(&action),
    })
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
            assert_eq!(err.kind, nm_mptcp_core::error::ErrorKind::Usage, "{bad:?}");
        }
    }

    #[test]
    fn non_utf8_arguments_are_a_usage_error() {
        use std::os::unix::ffi::OsStrExt;
        let odd = std::ffi::OsStr::from_bytes(b"e\xff0");
        let err = parse(&[odd, std::ffi::OsStr::new("up")]).unwrap_err();
        assert_eq!(err.kind, nm_mptcp_core::error::ErrorKind::Usage);
        assert!(err.message.contains("not UTF-8"), "{}", err.message);
    }

    proptest! {
        /// Any arguments, UTF-8 or not: an event or a usage error.
        #[test]
        fn fuzz_dispatcher_arguments_never_panic(
            args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..4),
        ) {
            use std::os::unix::ffi::OsStrExt;
            let args: Vec<&OsStr> = args.iter().map(|a| OsStr::from_bytes(a)).collect();
            if let Err(e) = parse(&args) {
                prop_assert_eq!(e.kind, nm_mptcp_core::error::ErrorKind::Usage);
            }
        }
    }
}
