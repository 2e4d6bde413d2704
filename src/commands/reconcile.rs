//! `nm-mptcp reconcile`: apply the whole host once (at boot, or by hand).

use crate::error::Error;
use crate::nm::Detail;
use crate::reconcile::{self, Backing, NmSource};

pub async fn run() -> Result<(), Error> {
    let span = tracing::info_span!("event", action = "reconcile");
    let _entered = span.enter();
    let outcome = reconcile::apply(None, NmSource::Read(Detail::Planning), Backing::Event).await?;
    for operation in &outcome.operations {
        println!("{}", reconcile::describe(operation));
    }
    if outcome.limits != outcome.limits_before {
        println!("{}", reconcile::describe_limits(outcome.limits));
    }
    for change in &outcome.rp_filter {
        println!("{change}");
    }
    println!(
        "{} endpoint(s) planned, {} change(s) made",
        outcome.plan.endpoints.len(),
        outcome.operations.len() - outcome.refused.len()
    );
    super::verdict(&outcome)
}
