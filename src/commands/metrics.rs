//! `nm-mptcp metrics [--textfile DIR]`: the status as OpenMetrics text, printed, or written
//! to DIR/nm_mptcp.prom for node_exporter's textfile collector.

use std::path::Path;

use crate::adapters::textfile;
use crate::app::context::Context;
use nm_mptcp_core::error::Error;

pub(crate) async fn run(context: &Context, dir: Option<&Path>) -> Result<(), Error> {
    let status = super::status::current(context).await?;
    let text = nm_mptcp_core::metrics::render(&status);
    match dir {
        Some(dir) => textfile::write(dir, &text),
        None => super::emit(&text),
    }
}
