//! `nm-mptcp plan [--json]`: what nm-mptcp would do and why, for every address; changes nothing.

use crate::app::reconcile;
use crate::error::Error;
use crate::report::render_plan;

pub(crate) async fn run(json: bool) -> Result<(), Error> {
    let outcome = reconcile::dry_run(None).await?;
    super::print(&outcome, json, |o| render_plan(&o.plan, &o.changes))
}
