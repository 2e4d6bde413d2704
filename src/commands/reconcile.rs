//! `nm-mptcp reconcile`: apply the whole host once (at boot, or by hand).

use crate::adapters::kernel::netlink::NetlinkKernel;
use crate::adapters::nm::Detail;
use crate::app::reconcile::{self, NmSource};
use crate::app::{event_span, verdict};
use crate::changes::Backing;
use crate::error::Error;
use crate::report::change_lines;

pub(crate) async fn run() -> Result<(), Error> {
    let span = event_span("none", "reconcile");
    let _entered = span.enter();
    let mut kernel = NetlinkKernel::connect()?;
    let outcome = reconcile::apply(
        &mut kernel,
        None,
        NmSource::Read(Detail::Planning),
        Backing::Event,
    )
    .await?;
    for line in change_lines(&outcome.changes) {
        println!("{line}");
    }
    println!(
        "{} endpoint(s) planned, {} change(s) made",
        outcome.plan.endpoints.len(),
        outcome.applied
    );
    verdict(&outcome)
}
