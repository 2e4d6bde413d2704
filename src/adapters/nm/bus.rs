//! The system bus and single calls to NetworkManager on it: connecting without zbus's
//! connect thread, bounded waits, and objects that vanish while they are read.

use std::path::PathBuf;
use std::time::Duration;

use zbus::Connection;

use super::{BUS_NAME, IFACE_PROPERTIES};
use nm_mptcp_core::error::Error;

/// `work`, or a clear error once NetworkManager has taken longer than `timeout`.
pub(crate) async fn within<T>(
    timeout: Duration,
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| Error::nm(format!("NetworkManager did not answer within {timeout:?}")))?
}

/// The system bus. A `unix:path=` address is connected here, on this thread: zbus would
/// start a thread for the blocking connect, which costs the hook more than the connect.
pub(crate) async fn system_bus() -> Result<Connection, Error> {
    let unreachable =
        |e: &dyn std::fmt::Display| Error::nm(format!("cannot reach the system bus: {e}"));
    let builder = match system_bus_socket(std::env::var("DBUS_SYSTEM_BUS_ADDRESS").ok().as_deref())
    {
        Some(path) => {
            let stream = std::os::unix::net::UnixStream::connect(&path)
                .and_then(|s| s.set_nonblocking(true).map(|()| s))
                .and_then(tokio::net::UnixStream::from_std)
                .map_err(|e| unreachable(&format!("{}: {e}", path.display())))?;
            zbus::connection::Builder::unix_stream(stream)
        }
        None => zbus::connection::Builder::system().map_err(|e| unreachable(&e))?,
    };
    builder.build().await.map_err(|e| unreachable(&e))
}

/// The socket of a plain `unix:path=` bus address (the default one when unset); `None` for
/// any other kind of address, which zbus handles.
fn system_bus_socket(address: Option<&str>) -> Option<PathBuf> {
    let Some(address) = address else {
        return Some(PathBuf::from("/var/run/dbus/system_bus_socket"));
    };
    let first = address.split(';').next()?;
    let path = first.strip_prefix("unix:path=")?;
    (!path.is_empty() && !path.contains(',')).then(|| PathBuf::from(path))
}

/// Whether NetworkManager is on the bus. Its answer also comes after every signal the bus
/// routed to this connection before it, so a daemon that asks has seen them all.
pub(crate) async fn present(bus: &Connection) -> Result<bool, Error> {
    let asking = |e: zbus::Error| Error::nm(format!("asking the bus for NetworkManager: {e}"));
    bus.call_method(
        Some("org.freedesktop.DBus"),
        "/org/freedesktop/DBus",
        Some("org.freedesktop.DBus"),
        "NameHasOwner",
        &(BUS_NAME,),
    )
    .await
    .map_err(asking)?
    .body()
    .deserialize::<bool>()
    .map_err(asking)
}

/// The process that owns NetworkManager's name on the bus; `None` if the bus cannot say.
pub(super) async fn owner_pid(bus: &Connection) -> Result<Option<u32>, Error> {
    let reply = bus
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "GetConnectionUnixProcessID",
            &(BUS_NAME,),
        )
        .await;
    Ok(reply.ok().and_then(|r| r.body().deserialize::<u32>().ok()))
}

/// An object's properties, or `None` when it went away since it was listed (a connection or
/// device being torn down while the event is read).
pub(super) async fn get_all<R>(
    bus: &Connection,
    path: &str,
    interface: &str,
) -> Result<Option<R>, Error>
where
    R: for<'d> zbus::zvariant::DynamicDeserialize<'d>,
{
    call(bus, path, IFACE_PROPERTIES, "GetAll", &(interface,))
        .await
        .map_err(|e| e.context(format!("{interface} of {path}")))
}

/// One call to NetworkManager; `None` when the object has vanished. It never starts
/// NetworkManager: its D-Bus activation file would let any call bring back a NetworkManager
/// an administrator has just stopped.
pub(super) async fn call<R, B>(
    bus: &Connection,
    path: &str,
    interface: &str,
    method: &str,
    body: &B,
) -> Result<Option<R>, Error>
where
    R: for<'d> zbus::zvariant::DynamicDeserialize<'d>,
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    let proxy = zbus::proxy::Builder::<zbus::Proxy>::new(bus)
        .destination(BUS_NAME)
        .and_then(|b| b.path(path))
        .and_then(|b| b.interface(interface))
        .map(|b| b.cache_properties(zbus::proxy::CacheProperties::No))
        .map_err(|e| Error::nm(e.to_string()))?
        .build()
        .await
        .map_err(|e| Error::nm(e.to_string()))?;
    match proxy
        .call_with_flags::<_, _, R>(method, zbus::proxy::MethodFlags::NoAutoStart.into(), body)
        .await
    {
        Ok(reply) => Ok(reply),
        Err(e) if vanished(&e) => Ok(None),
        Err(e) => Err(Error::nm(e.to_string())),
    }
}

/// NetworkManager's answers for an object path that no longer exists, or a device that has
/// no applied connection any more.
fn vanished(e: &zbus::Error) -> bool {
    matches!(e, zbus::Error::MethodError(name, _, _) if matches!(
        name.as_str(),
        "org.freedesktop.DBus.Error.UnknownMethod"
            | "org.freedesktop.DBus.Error.UnknownObject"
            | "org.freedesktop.NetworkManager.Device.NotActive"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_unix_bus_addresses_are_connected_directly() {
        assert_eq!(
            system_bus_socket(None),
            Some(PathBuf::from("/var/run/dbus/system_bus_socket"))
        );
        assert_eq!(
            system_bus_socket(Some("unix:path=/run/x/bus")),
            Some(PathBuf::from("/run/x/bus"))
        );
        assert_eq!(
            system_bus_socket(Some("unix:path=/a;unix:path=/b")),
            Some(PathBuf::from("/a"))
        );
        for other in [
            "unix:abstract=x",
            "tcp:host=localhost,port=1",
            "unix:path=/a,guid=1",
            "unix:path=",
        ] {
            assert_eq!(system_bus_socket(Some(other)), None, "{other}");
        }
    }
}
