//! `nm-mptcp check-config`: validate /etc/nm-mptcp/config.toml without touching anything.

use crate::config;
use crate::error::Error;

pub fn run(args: &[String]) -> Result<(), Error> {
    if !args.is_empty() {
        return Err(Error::usage("check-config takes no arguments"));
    }
    let path = config::path();
    let config = config::load(&path)?;
    println!("{}: ok", path.display());
    println!(
        "limits: subflows {}, add_addr_accepted {}; kernel.enable_mptcp {}; rp_filter.relax {}",
        config.subflows, config.add_addr_accepted, config.enable_mptcp, config.relax_rp_filter
    );
    Ok(())
}
