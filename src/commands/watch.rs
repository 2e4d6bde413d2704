//! `nm-mptcp watch [--for SECONDS]`: reconcile on address changes until addresses settle
//! (see `app::watch`).

use crate::app::context::Context;
use crate::app::watch;
use nm_mptcp_core::error::Error;

pub(crate) async fn run(context: &Context, seconds: u64) -> Result<(), Error> {
    watch::run(context, seconds).await
}
