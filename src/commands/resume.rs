//! `nm-mptcp resume`: act again after `nm-mptcp release` (see `app::release`).

use crate::app::context::Context;
use crate::app::release::resume;
use nm_mptcp_core::error::Error;

pub(crate) fn run(context: &Context) -> Result<(), Error> {
    let text = if resume(context)? {
        "resumed: the next event applies the profiles\n"
    } else {
        "not released: nothing to resume\n"
    };
    super::emit(text)
}
