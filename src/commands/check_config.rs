//! `nm-mptcp check-config`: validate /etc/nm-mptcp/config.toml without touching anything.

use crate::app::context::Context;
use nm_mptcp_core::error::Error;
use nm_mptcp_core::escape::escaped;

pub(crate) fn run(context: &Context) -> Result<(), Error> {
    let path = &context.config_path;
    let config = context.config()?;
    super::emit(&format!(
        "{}: ok\nlimits: subflows {}, add_addr_accepted {}; kernel.enable_mptcp {}; rp_filter.relax {}; profiles.apply_on_modify {}; profiles.metered_as_backup {}; daemon.check_interval {}\n",
        escaped(&path.display().to_string()),
        config.subflows,
        config.add_addr_accepted,
        config.enable_mptcp,
        config.relax_rp_filter,
        config.apply_on_modify,
        config.metered_as_backup,
        config
            .check_interval
            .map_or("0 (never)".to_owned(), |i| format!("{}s", i.as_secs()))
    ))
}
