//! nm-mptcp's own face on the system bus, served by the daemon: `io.github.nm_mptcp1` at
//! `/io/github/nm_mptcp1`, interface `io.github.nm_mptcp1.Manager` (`dbus/` holds its policy,
//! activation file and introspection data). Read-only properties built from the status the
//! daemon publishes after each reconciliation; `Describe` and `Plan` for anyone, `Reconcile`
//! for root; each call is answered by the daemon's loop.
//! Every dictionary is `a{sv}`, so keys can be added without breaking clients.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, oneshot, Notify};
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedValue, Type, Value};
use zbus::Connection;

use nm_mptcp_core::error::{Error, ErrorKind};
use nm_mptcp_core::model::{code, PathManager};
use nm_mptcp_core::report::Status;

pub(crate) const NAME: &str = "io.github.nm_mptcp1";
pub(crate) const PATH: &str = "/io/github/nm_mptcp1";
pub(crate) const INTERFACE: &str = "io.github.nm_mptcp1.Manager";

/// What the daemon last published: the status its properties show.
#[derive(Default)]
pub(crate) struct Published {
    status: Option<Status>,
    /// Told when the first status is published.
    first: Arc<Notify>,
}

/// How long after the daemon serves property reads wait for its first status (the name is
/// claimed before NetworkManager is read, so a caller that activated the daemon may come
/// first); after that they answer with what there is.
const FIRST_STATUS_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How many calls may wait for the daemon's loop; more are refused as `Busy` at once, so no
/// caller can pile work up in front of the hook's events.
const WAITING_CALLS: usize = 4;

/// A call the daemon's loop answers, with where the answer goes.
pub(crate) enum Request {
    /// `Reconcile`: the verdict.
    Reconcile(oneshot::Sender<Result<(), Error>>),
    /// `Describe`: the status as of now (a hand-added endpoint or a sysctl sends no event).
    Describe(oneshot::Sender<Result<String, Error>>),
    /// `Plan`: what a dispatcher event would do now.
    Plan(oneshot::Sender<Result<String, Error>>),
    /// `Watch`: keep the connections and counters current for a while.
    Watch,
}

pub(crate) struct Manager {
    published: Arc<RwLock<Published>>,
    requests: mpsc::Sender<Request>,
    /// Until when property reads wait for the first status (one deadline for every read).
    first_status_by: tokio::time::Instant,
}

impl Manager {
    /// Hand a call to the daemon's loop and wait for its answer.
    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T, Error>>) -> Request,
    ) -> Result<T, ServiceError> {
        let (reply, answer) = oneshot::channel();
        self.hand_over(request(reply))?;
        let answer = answer
            .await
            .map_err(|_| Error::new(ErrorKind::Daemon, "the daemon did not answer"))?;
        Ok(answer?)
    }

    /// Queue a request for the daemon's loop, or refuse it at once when too many wait.
    fn hand_over(&self, request: Request) -> Result<(), Error> {
        self.requests.try_send(request).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Error::new(
                ErrorKind::Busy,
                format!("{WAITING_CALLS} calls are already waiting for the daemon"),
            ),
            mpsc::error::TrySendError::Closed(_) => {
                Error::new(ErrorKind::Daemon, "the daemon is stopping")
            }
        })
    }
}

/// Errors of the methods: named after the exit status kinds (`io.github.nm_mptcp1.Error.Kernel`),
/// or the bus's own (`org.freedesktop.DBus.Error.AccessDenied`).
#[derive(Debug)]
pub(crate) enum ServiceError {
    AccessDenied(String),
    Failed(Error),
    /// The bus failed while the caller was checked.
    Bus(String),
}

impl From<zbus::Error> for ServiceError {
    fn from(e: zbus::Error) -> ServiceError {
        ServiceError::Bus(e.to_string())
    }
}

impl From<zbus::fdo::Error> for ServiceError {
    fn from(e: zbus::fdo::Error) -> ServiceError {
        ServiceError::Bus(e.to_string())
    }
}

impl From<Error> for ServiceError {
    fn from(e: Error) -> ServiceError {
        ServiceError::Failed(e)
    }
}

impl zbus::DBusError for ServiceError {
    fn create_reply(&self, call: &Header<'_>) -> zbus::Result<zbus::message::Message> {
        zbus::message::Message::error(call, self.name())?
            .build(&(self.description().unwrap_or_default(),))
    }

    fn name(&self) -> zbus::names::ErrorName<'_> {
        let name = match self {
            ServiceError::AccessDenied(_) => "org.freedesktop.DBus.Error.AccessDenied",
            ServiceError::Bus(_) => "org.freedesktop.DBus.Error.Failed",
            ServiceError::Failed(e) => match e.kind {
                ErrorKind::Usage => "io.github.nm_mptcp1.Error.Usage",
                ErrorKind::NetworkManager => "io.github.nm_mptcp1.Error.NetworkManager",
                ErrorKind::Kernel => "io.github.nm_mptcp1.Error.Kernel",
                ErrorKind::State => "io.github.nm_mptcp1.Error.State",
                ErrorKind::Busy => "io.github.nm_mptcp1.Error.Busy",
                ErrorKind::Config => "io.github.nm_mptcp1.Error.Config",
                ErrorKind::Daemon => "io.github.nm_mptcp1.Error.Daemon",
                ErrorKind::Internal => "io.github.nm_mptcp1.Error.Internal",
            },
        };
        zbus::names::ErrorName::from_static_str_unchecked(name)
    }

    fn description(&self) -> Option<&str> {
        match self {
            ServiceError::AccessDenied(message) => Some(message),
            ServiceError::Failed(e) => Some(&e.message),
            ServiceError::Bus(message) => Some(message),
        }
    }
}

fn value<'a>(v: impl Into<Value<'a>>) -> OwnedValue {
    // Only values holding file descriptors fail to be owned; these hold none.
    v.into()
        .try_to_owned()
        .unwrap_or_else(|_| OwnedValue::from(0u32))
}

impl Manager {
    /// A property of the status, once there is one (or empty after `FIRST_STATUS_WAIT`).
    async fn with_status<T: Default>(&self, read: impl FnOnce(&Status) -> T) -> T {
        let first_status = async {
            loop {
                let first = self.published().first.clone();
                let told = first.notified();
                if self.published().status.is_some() {
                    return;
                }
                told.await;
            }
        };
        let _ = tokio::time::timeout_at(self.first_status_by, first_status).await;
        self.published()
            .status
            .as_ref()
            .map(read)
            .unwrap_or_default()
    }

    fn published(&self) -> std::sync::RwLockReadGuard<'_, Published> {
        self.published.read().unwrap_or_else(|e| e.into_inner())
    }
}

// The properties' dictionaries (`a{sv}`), typed as the incoming ones are: each key is a
// field, named in PascalCase.

/// `Limits`.
#[derive(Debug, Clone, Default, PartialEq, Type, Value, OwnedValue)]
#[zvariant(
    signature = "dict",
    rename_all = "PascalCase",
    crate = "zbus::zvariant"
)]
pub(crate) struct LimitsDict {
    subflows: u32,
    add_addr_accepted: u32,
    subflows_setting: String,
    add_addr_accepted_setting: String,
}

/// One of `Endpoints`.
#[derive(Debug, Clone, Default, PartialEq, Type, Value, OwnedValue)]
#[zvariant(
    signature = "dict",
    rename_all = "PascalCase",
    crate = "zbus::zvariant"
)]
pub(crate) struct EndpointDict {
    id: u32,
    address: String,
    interface: String,
    flags: Vec<String>,
    owner: String,
    profile: String,
    connections: u32,
    subflows: u32,
}

/// `Usage`.
#[derive(Debug, Clone, Default, PartialEq, Type, Value, OwnedValue)]
#[zvariant(
    signature = "dict",
    rename_all = "PascalCase",
    crate = "zbus::zvariant"
)]
pub(crate) struct UsageDict {
    known: bool,
    connections: u32,
    subflows: u32,
    fallen_back: u32,
    joins_pending: u32,
}

/// One of `Counters`.
#[derive(Debug, Clone, Default, PartialEq, Type, Value, OwnedValue)]
#[zvariant(
    signature = "dict",
    rename_all = "PascalCase",
    crate = "zbus::zvariant"
)]
pub(crate) struct CounterDict {
    counter: String,
    meaning: String,
    value: u64,
    since_start: u64,
}

/// One of `Profiles`.
#[derive(Debug, Clone, Default, PartialEq, Type, Value, OwnedValue)]
#[zvariant(
    signature = "dict",
    rename_all = "PascalCase",
    crate = "zbus::zvariant"
)]
pub(crate) struct ProfileDict {
    uuid: String,
    id: String,
    interface: String,
    mptcp_flags: Vec<String>,
    connection_flags: Vec<String>,
    flags_source: String,
    addresses: Vec<AddressDict>,
}

/// One of a profile's `Addresses`.
#[derive(Debug, Clone, Default, PartialEq, Type, Value, OwnedValue)]
#[zvariant(
    signature = "dict",
    rename_all = "PascalCase",
    crate = "zbus::zvariant"
)]
pub(crate) struct AddressDict {
    address: String,
    decision: String,
    reason: String,
    meaning: String,
}

/// `NetworkManager`.
#[derive(Debug, Clone, Default, PartialEq, Type, Value, OwnedValue)]
#[zvariant(
    signature = "dict",
    rename_all = "PascalCase",
    crate = "zbus::zvariant"
)]
pub(crate) struct NetworkManagerDict {
    version: String,
    laminar: bool,
}

/// `Sysctl`.
#[derive(Debug, Clone, Default, PartialEq, Type, Value, OwnedValue)]
#[zvariant(
    signature = "dict",
    rename_all = "PascalCase",
    crate = "zbus::zvariant"
)]
pub(crate) struct SysctlDict {
    mptcp_enabled: String,
    path_manager: String,
}

/// One of `Warnings`.
#[derive(Debug, Clone, Default, PartialEq, Type, Value, OwnedValue)]
#[zvariant(
    signature = "dict",
    rename_all = "PascalCase",
    crate = "zbus::zvariant"
)]
pub(crate) struct WarningDict {
    code: String,
    message: String,
}

fn limits_of(s: &Status) -> LimitsDict {
    LimitsDict {
        subflows: s.limits.subflows,
        add_addr_accepted: s.limits.add_addr_accepted,
        subflows_setting: s.limit_settings.subflows.clone(),
        add_addr_accepted_setting: s.limit_settings.add_addr_accepted.clone(),
    }
}

fn endpoints_of(s: &Status) -> Vec<EndpointDict> {
    s.endpoints
        .iter()
        .map(|e| EndpointDict {
            id: u32::from(e.id),
            address: e.address.to_string(),
            interface: e.interface.clone().unwrap_or_default(),
            flags: e.flags.names(),
            owner: code(&e.owner),
            profile: e.profile.clone().unwrap_or_default(),
            connections: e.connections,
            subflows: e.subflows,
        })
        .collect()
}

fn usage_of(s: &Status) -> UsageDict {
    s.usage
        .as_ref()
        .map(|u| UsageDict {
            known: true,
            connections: u.connections,
            subflows: u.subflows,
            fallen_back: u.fallen_back,
            joins_pending: u.joins_pending,
        })
        .unwrap_or_default()
}

fn counters_of(s: &Status) -> Vec<CounterDict> {
    s.counters
        .iter()
        .flatten()
        .map(|c| CounterDict {
            counter: c.counter.clone(),
            meaning: c.meaning.clone(),
            value: c.value,
            since_start: c.since_start.unwrap_or_default(),
        })
        .collect()
}

fn profiles_of(s: &Status) -> Vec<ProfileDict> {
    s.profiles
        .iter()
        .map(|p| ProfileDict {
            uuid: p.uuid.clone(),
            id: p.id.clone(),
            interface: p.interface.clone(),
            mptcp_flags: p.flags.names(),
            connection_flags: p
                .mptcp_flags
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            flags_source: code(&p.flags_source),
            addresses: p
                .addresses
                .iter()
                .map(|a| AddressDict {
                    address: a.address.to_string(),
                    decision: code(&a.decision),
                    reason: code(&a.reason),
                    meaning: a.reason.meaning().to_owned(),
                })
                .collect(),
        })
        .collect()
}

fn networkmanager_of(s: &Status) -> NetworkManagerDict {
    NetworkManagerDict {
        version: s.nm_version.to_string(),
        laminar: s.nm_version.has_laminar(),
    }
}

fn sysctl_of(s: &Status) -> SysctlDict {
    let enabled = match s.sysctl.enabled {
        Some(true) => "1",
        Some(false) => "0",
        None => "missing",
    };
    SysctlDict {
        mptcp_enabled: enabled.to_owned(),
        path_manager: s
            .sysctl
            .path_manager
            .as_ref()
            .map_or("unknown", PathManager::name)
            .to_owned(),
    }
}

fn warnings_of(s: &Status) -> Vec<WarningDict> {
    s.warnings
        .iter()
        .map(|w| WarningDict {
            code: w.code(),
            message: w.to_string(),
        })
        .collect()
}

// Every method takes a `header` parameter: zbus checks a call's body against the method's
// signature (none) only for methods that take one, and otherwise accepts any body, however
// large, and lets it cost the daemon (tests/dbus.rs holds this).
#[zbus::interface(name = "io.github.nm_mptcp1.Manager")]
impl Manager {
    /// nm-mptcp's version.
    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    /// `Subflows` and `AddAddrAccepted` (u) as the kernel holds them, and where they come
    /// from: `SubflowsSetting` and `AddAddrAcceptedSetting` (s: `auto`, `keep` or the number
    /// /etc/nm-mptcp/config.toml sets).
    #[zbus(property)]
    async fn limits(&self) -> LimitsDict {
        self.with_status(limits_of).await
    }

    /// Every kernel endpoint, nm-mptcp's and others': `Id` u, `Address` s, `Interface` s,
    /// `Flags` as, `Owner` s (`nm-mptcp` or `other`), `Profile` s (empty when none),
    /// `Connections` u and `Subflows` u (established from its address, as of the status).
    #[zbus(property)]
    async fn endpoints(&self) -> Vec<EndpointDict> {
        self.with_status(endpoints_of).await
    }

    /// Every active profile: `Uuid` s, `Id` s, `Interface` s, `MptcpFlags` as (the kernel
    /// flags its endpoints get), `ConnectionFlags` as (the effective connection.mptcp-flags)
    /// and `FlagsSource` s (`profile`, `global-default`: NetworkManager.conf, `built-in`:
    /// the version's default, or `sysctl`), `Addresses` aa{sv} with `Address`, `Decision`,
    /// `Reason` (the codes of `nm-mptcp status`) and `Meaning` (the reason in words).
    #[zbus(property)]
    async fn profiles(&self) -> Vec<ProfileDict> {
        self.with_status(profiles_of).await
    }

    /// `MptcpEnabled` s (`1`, `0` or `missing`: net.mptcp.enabled) and `PathManager` s
    /// (`kernel`, `userspace` or `unknown`).
    #[zbus(property)]
    async fn sysctl(&self) -> SysctlDict {
        self.with_status(sysctl_of).await
    }

    /// The NetworkManager whose rules apply: `Version` s, and `Laminar` b (whether it knows
    /// the `laminar` flag).
    #[zbus(property)]
    async fn network_manager(&self) -> NetworkManagerDict {
        self.with_status(networkmanager_of).await
    }

    /// What needs attention: `Code` s (the stable codes of `status`) and `Message` s.
    #[zbus(property)]
    async fn warnings(&self) -> Vec<WarningDict> {
        self.with_status(warnings_of).await
    }

    /// The MPTCP connections as of the status: `Known` b (false: sock_diag could not be
    /// read), `Connections`, `Subflows` (established), `FallenBack` (to plain TCP) and
    /// `JoinsPending` (u). Current while a client watches (`Watch`).
    #[zbus(property)]
    async fn usage(&self) -> UsageDict {
        self.with_status(usage_of).await
    }

    /// The kernel's MPTCP counters that `status` names: `Counter` s (its name in
    /// /proc/net/netstat), `Meaning` s, `Value` t and `SinceStart` t (the rise since the
    /// daemon started).
    #[zbus(property)]
    async fn counters(&self) -> Vec<CounterDict> {
        self.with_status(counters_of).await
    }

    /// Keep `Usage`, `Counters`, the endpoints' counts and the warnings from traffic current
    /// (read each second, signalled when they change) for the next 60 s; call again to go on.
    /// However many clients watch, the kernel is read once a second.
    async fn watch(&self, #[zbus(header)] _checked_body: Header<'_>) -> Result<(), ServiceError> {
        Ok(self.hand_over(Request::Watch)?)
    }

    /// Exactly what `nm-mptcp status --json` prints, as of now.
    async fn describe(
        &self,
        #[zbus(header)] _checked_body: Header<'_>,
    ) -> Result<String, ServiceError> {
        self.ask(Request::Describe).await
    }

    /// Exactly what `nm-mptcp plan --json` prints: what a dispatcher event would do now,
    /// changing nothing.
    async fn plan(
        &self,
        #[zbus(header)] _checked_body: Header<'_>,
    ) -> Result<String, ServiceError> {
        self.ask(Request::Plan).await
    }

    /// Apply the whole host now; replies when done. Root only.
    async fn reconcile(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<(), ServiceError> {
        let sender = header
            .sender()
            .ok_or_else(|| ServiceError::AccessDenied("no sender".into()))?;
        // On a bus connection the socket's peer is the bus: ask it who the caller is.
        let uid = zbus::fdo::DBusProxy::new(connection)
            .await?
            .get_connection_unix_user(sender.clone().into())
            .await?;
        if uid != 0 {
            return Err(ServiceError::AccessDenied("Reconcile is for root".into()));
        }
        self.ask(Request::Reconcile).await
    }
}

/// The object on `bus`; returns what the daemon publishes to and the calls its loop
/// answers. Callers find it once `claim_name` has succeeded.
pub(crate) async fn serve(
    bus: &Connection,
) -> Result<(Arc<RwLock<Published>>, mpsc::Receiver<Request>), Error> {
    let published = Arc::new(RwLock::new(Published::default()));
    let (requests, incoming) = mpsc::channel(WAITING_CALLS);
    let manager = Manager {
        published: published.clone(),
        requests,
        first_status_by: tokio::time::Instant::now() + FIRST_STATUS_WAIT,
    };
    bus.object_server()
        .at(PATH, manager)
        .await
        .map_err(|e| Error::nm(format!("cannot serve {PATH}: {e}")))?;
    Ok((published, incoming))
}

/// Own the well-known name, before anything touches the kernel (property reads wait for the
/// first status): never taken from another owner and never queued for,
/// so a second daemon gets `Busy` (NameTaken). Without the bus policy installed the bus
/// refuses with AccessDenied: `NetworkManager` kind, which the daemon survives.
pub(crate) async fn claim_name(bus: &Connection) -> Result<(), Error> {
    use zbus::fdo::RequestNameReply;
    let taken = || {
        Error::new(
            ErrorKind::Busy,
            format!("{NAME} is taken (NameTaken): another nm-mptcp daemon serves it"),
        )
    };
    match bus
        .request_name_with_flags(NAME, zbus::fdo::RequestNameFlags::DoNotQueue.into())
        .await
    {
        Ok(RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner) => Ok(()),
        Ok(RequestNameReply::Exists | RequestNameReply::InQueue) | Err(zbus::Error::NameTaken) => {
            Err(taken())
        }
        Err(e) => Err(Error::nm(format!("cannot own {NAME}: {e}"))),
    }
}

/// The running daemon's answer to `Describe` or `Plan` (what `status --json` or `plan --json`
/// prints); `None` when no daemon serves the name (it is never started for this) or it does
/// not answer within 2 s.
pub(crate) async fn ask(method: &str) -> Option<String> {
    let asked = async {
        let bus = crate::adapters::nm::system_bus().await.ok()?;
        let proxy = zbus::proxy::Builder::<zbus::Proxy>::new(&bus)
            .destination(NAME)
            .and_then(|b| b.path(PATH))
            .and_then(|b| b.interface(INTERFACE))
            .map(|b| b.cache_properties(zbus::proxy::CacheProperties::No))
            .ok()?
            .build()
            .await
            .ok()?;
        let flags = zbus::proxy::MethodFlags::NoAutoStart.into();
        proxy
            .call_with_flags::<_, _, String>(method, flags, &())
            .await
            .ok()
            .flatten()
            .filter(|answer| !answer.is_empty())
    };
    tokio::time::timeout(std::time::Duration::from_secs(2), asked)
        .await
        .ok()
        .flatten()
}

/// Publish a new status: the properties that changed go out in one PropertiesChanged.
/// Returns the status as `Describe` gives it.
pub(crate) async fn publish(
    bus: &Connection,
    published: &RwLock<Published>,
    status: Status,
) -> Result<String, Error> {
    let json = serde_json::to_string_pretty(&status)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot encode JSON: {e}")))?;
    let (before, after) = {
        let mut state = published.write().unwrap_or_else(|e| e.into_inner());
        let before = properties(&state);
        state.status = Some(status);
        state.first.notify_waiters();
        (before, properties(&state))
    };
    let changed: HashMap<&str, Value<'_>> = after
        .iter()
        .filter(|(name, value)| before.get(*name) != Some(*value))
        .map(|(name, value)| (*name, Value::from(value.clone())))
        .collect();
    if changed.is_empty() {
        return Ok(json);
    }
    let emitter = SignalEmitter::new(bus, PATH).map_err(|e| Error::nm(e.to_string()))?;
    let interface = zbus::names::InterfaceName::from_static_str_unchecked(INTERFACE);
    zbus::fdo::Properties::properties_changed(&emitter, interface, changed, (&[][..]).into())
        .await
        .map_err(|e| Error::nm(format!("cannot signal property changes: {e}")))?;
    Ok(json)
}

/// The changing properties' values.
fn properties(state: &Published) -> HashMap<&'static str, OwnedValue> {
    let status = state.status.as_ref();
    [
        ("Limits", value(status.map(limits_of).unwrap_or_default())),
        (
            "Endpoints",
            value(status.map(endpoints_of).unwrap_or_default()),
        ),
        (
            "Profiles",
            value(status.map(profiles_of).unwrap_or_default()),
        ),
        ("Sysctl", value(status.map(sysctl_of).unwrap_or_default())),
        (
            "NetworkManager",
            value(status.map(networkmanager_of).unwrap_or_default()),
        ),
        (
            "Warnings",
            value(status.map(warnings_of).unwrap_or_default()),
        ),
        ("Usage", value(status.map(usage_of).unwrap_or_default())),
        (
            "Counters",
            value(status.map(counters_of).unwrap_or_default()),
        ),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::object_server::Interface;

    /// The interface as the daemon exports it, as a whole introspection document.
    fn introspection() -> String {
        let manager = Manager {
            published: Arc::default(),
            requests: mpsc::channel(1).0,
            first_status_by: tokio::time::Instant::now(),
        };
        let mut xml = String::from(
            "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n \
             \"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n<node name=\"/io/github/nm_mptcp1\">\n",
        );
        manager.introspect_to_writer(&mut xml, 1);
        xml.push_str("</node>\n");
        xml
    }

    #[test]
    fn the_introspection_file_is_what_the_daemon_exports() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/dbus/io.github.nm_mptcp1.Manager.xml"
        );
        if std::env::var_os("NM_MPTCP_WRITE_INTROSPECTION").is_some() {
            std::fs::write(path, introspection()).unwrap();
        }
        let file = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            file,
            introspection(),
            "dbus/io.github.nm_mptcp1.Manager.xml is stale: NM_MPTCP_WRITE_INTROSPECTION=1 cargo test rewrites it"
        );
    }

    /// The keys of a property's dictionary, sorted.
    fn keys(v: OwnedValue) -> Vec<String> {
        let dict = zbus::zvariant::Dict::try_from(Value::from(v)).unwrap();
        let map: HashMap<String, OwnedValue> = HashMap::try_from(dict).unwrap();
        let mut keys: Vec<String> = map.into_keys().collect();
        keys.sort();
        keys
    }

    #[test]
    fn the_properties_keep_the_keys_clients_read() {
        assert_eq!(
            keys(value(LimitsDict::default())),
            [
                "AddAddrAccepted",
                "AddAddrAcceptedSetting",
                "Subflows",
                "SubflowsSetting"
            ]
        );
        assert_eq!(
            keys(value(EndpointDict::default())),
            [
                "Address",
                "Connections",
                "Flags",
                "Id",
                "Interface",
                "Owner",
                "Profile",
                "Subflows"
            ]
        );
        assert_eq!(
            keys(value(ProfileDict::default())),
            [
                "Addresses",
                "ConnectionFlags",
                "FlagsSource",
                "Id",
                "Interface",
                "MptcpFlags",
                "Uuid"
            ]
        );
        assert_eq!(
            keys(value(AddressDict::default())),
            ["Address", "Decision", "Meaning", "Reason"]
        );
        assert_eq!(
            keys(value(SysctlDict::default())),
            ["MptcpEnabled", "PathManager"]
        );
        assert_eq!(keys(value(WarningDict::default())), ["Code", "Message"]);
        assert_eq!(
            keys(value(UsageDict::default())),
            [
                "Connections",
                "FallenBack",
                "JoinsPending",
                "Known",
                "Subflows"
            ]
        );
        assert_eq!(
            keys(value(CounterDict::default())),
            ["Counter", "Meaning", "SinceStart", "Value"]
        );
    }

    #[test]
    fn no_property_is_settable_and_errors_are_named_after_exit_kinds() {
        let xml = introspection();
        assert!(xml.contains("interface name=\"io.github.nm_mptcp1.Manager\""));
        assert!(!xml.contains("access=\"readwrite\"") && !xml.contains("access=\"write\""));
        for name in [
            "Describe",
            "Reconcile",
            "Endpoints",
            "Profiles",
            "Limits",
            "Version",
        ] {
            assert!(xml.contains(&format!("name=\"{name}\"")), "{name}");
        }
        use zbus::DBusError;
        let kernel = ServiceError::from(Error::kernel("refused"));
        assert_eq!(kernel.name().as_str(), "io.github.nm_mptcp1.Error.Kernel");
        assert_eq!(kernel.description(), Some("refused"));
        let denied = ServiceError::AccessDenied("no".into());
        assert_eq!(
            denied.name().as_str(),
            "org.freedesktop.DBus.Error.AccessDenied"
        );
    }
}
