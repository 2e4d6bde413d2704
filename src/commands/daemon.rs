//! `nm-mptcp daemon`: stay resident (see `app::daemon`).

use crate::app::daemon;
use nm_mptcp_core::error::Error;

pub(crate) async fn run() -> Result<(), Error> {
    daemon::run().await
}
