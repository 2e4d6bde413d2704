//! `nm-mptcp daemon`: stay resident (see `app::daemon`).

use crate::app::context::Context;
use crate::app::daemon;
use nm_mptcp_core::error::Error;

pub(crate) async fn run(context: &Context) -> Result<(), Error> {
    daemon::run(context).await
}
