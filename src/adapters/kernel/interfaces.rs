//! Interface names and indexes, from the kernel.

/// The ifindex of an interface; `None` once it has vanished.
pub(crate) fn index(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok()
}

/// The name of an interface; `None` once it has vanished (or is not UTF-8).
pub(crate) fn name(index: u32) -> Option<String> {
    nix::net::if_::if_indextoname(index)
        .ok()
        .and_then(|n| n.into_string().ok())
}
