//! The daemon's face on the system bus: the status its properties show, published after
//! reconciliations, and the answers to `Describe` and `Plan`, from the dry run the held state
//! asks for (`Action::Refresh`), cached until the next one.

use std::sync::{Arc, RwLock};

use nm_mptcp_core::daemon::{Call, CallId};
use nm_mptcp_core::error::{Error, ErrorKind};
use nm_mptcp_core::modified::ModifiedProfile;
use nm_mptcp_core::nm_conf::NmConf;
use nm_mptcp_core::nm_view::NmView;
use nm_mptcp_core::planner::Plan;
use tokio::sync::oneshot;

use crate::adapters::dbus_service::{self, Published};
use crate::adapters::kernel::netlink::NetlinkKernel;
use crate::adapters::ledger_store::read_ledger;
use crate::app::context::Context;
use crate::app::kernel::Kernel;
use crate::app::reconcile::{self, NmSource};
use crate::app::status::Traffic;
use nm_mptcp_core::counters::History;
use nm_mptcp_core::usage::Usage;
use std::time::Instant;

pub(super) struct Publisher {
    context: Context,
    bus: zbus::Connection,
    /// Where the D-Bus interface reads the status from; `None` without the interface.
    published: Option<Arc<RwLock<Published>>>,
    /// The last reconciliation's plan, for a status with the kernel read again.
    plan: Option<Plan>,
    /// The last dry run's answers: `status --json` and `plan --json`.
    answers: Option<(String, String)>,
    calls: std::collections::HashMap<CallId, Reply>,
    next_call: CallId,
    /// The kernel's MPTCP counters as sampled since the daemon started.
    history: Option<History>,
    /// The last reading of connections and counters, and when: publications in a burst, or
    /// callers' dry runs (four a second at most), share one reading.
    traffic: Option<(Instant, Traffic)>,
}

/// How long a reading of connections and counters serves: under the watch's period (1 s),
/// so each of its samples reads the kernel afresh.
const TRAFFIC_FRESH: std::time::Duration = std::time::Duration::from_millis(500);

/// Where a call's answer goes.
pub(super) enum Reply {
    Text(Call, oneshot::Sender<Result<String, Error>>),
    Done(oneshot::Sender<Result<(), Error>>),
}

impl Publisher {
    pub(super) fn new(
        context: Context,
        bus: zbus::Connection,
        published: Option<Arc<RwLock<Published>>>,
    ) -> Publisher {
        Publisher {
            context,
            bus,
            published,
            plan: None,
            answers: None,
            calls: std::collections::HashMap::new(),
            next_call: 0,
            history: None,
            traffic: None,
        }
    }

    pub(super) fn serving(&self) -> bool {
        self.published.is_some()
    }

    /// Keep a call's reply; returns the id the held state knows it by.
    pub(super) fn take_call(&mut self, reply: Reply) -> CallId {
        self.next_call += 1;
        self.calls.insert(self.next_call, reply);
        self.next_call
    }

    pub(super) fn reconciled(&mut self, plan: Plan) {
        self.plan = Some(plan);
    }

    /// Answer `Describe` and `Plan` calls from the last dry run, or with an error.
    pub(super) fn answer(&mut self, ids: Vec<CallId>, result: Result<(), Error>) {
        for id in ids {
            let Some(reply) = self.calls.remove(&id) else {
                continue;
            };
            let answer = result.clone().and_then(|()| {
                self.answers
                    .clone()
                    .ok_or_else(|| Error::new(ErrorKind::Daemon, "no status to answer with yet"))
            });
            // The caller may have given up waiting; nothing to do then.
            match reply {
                Reply::Text(call, reply) => {
                    let _ = reply.send(answer.map(|(status, plan)| match call {
                        Call::Plan => plan,
                        _ => status,
                    }));
                }
                Reply::Done(reply) => {
                    let _ = reply.send(answer.map(|_| ()));
                }
            }
        }
    }

    /// Answer a `Reconcile` call.
    pub(super) fn answer_reconcile(&mut self, id: CallId, result: Result<(), Error>) {
        if let Some(Reply::Done(reply)) = self.calls.remove(&id) {
            let _ = reply.send(result);
        }
    }

    /// A dry run with this view, published, its answers cached for the calls.
    pub(super) async fn refresh(
        &mut self,
        kernel: &mut NetlinkKernel,
        view: &NmView,
        conf: &NmConf,
        modified: &[ModifiedProfile],
    ) -> Result<(), Error> {
        let mut outcome =
            reconcile::dry_run(&self.context, kernel, NmSource::Held(view, conf)).await?;
        let (status, usage) = self.publish(kernel, &outcome.plan, modified).await?;
        outcome.usage = usage;
        let plan = serde_json::to_string_pretty(&outcome)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot encode JSON: {e}")))?;
        self.answers = Some((status, plan));
        Ok(())
    }

    /// Publish the last reconciliation's status, with the kernel as it is now.
    pub(super) async fn republish(
        &mut self,
        kernel: &mut NetlinkKernel,
        modified: &[ModifiedProfile],
    ) {
        let Some(plan) = self.plan.take() else {
            return;
        };
        if let Err(e) = self.publish(kernel, &plan, modified).await {
            tracing::warn!(error = %e, "cannot publish the status on D-Bus");
        }
        self.plan = Some(plan);
    }

    /// Publish a plan's status on the D-Bus interface (its properties); returns it as
    /// `status --json` prints it, and the connections it counted.
    async fn publish(
        &mut self,
        kernel: &mut NetlinkKernel,
        plan: &Plan,
        modified: &[ModifiedProfile],
    ) -> Result<(String, Option<Usage>), Error> {
        let published = self
            .published
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::Daemon, "no D-Bus interface"))?;
        let endpoints = kernel.endpoints().await?;
        let limits = kernel.limits().await?;
        let dir = &self.context.run_dir;
        let ledger = read_ledger(dir);
        let config = self.context.config()?;
        let traffic = match &self.traffic {
            Some((at, traffic)) if at.elapsed() < TRAFFIC_FRESH => traffic.clone(),
            _ => {
                let traffic = Traffic::read(&endpoints)
                    .await
                    .recorded(&mut self.history, Instant::now());
                self.traffic = Some((Instant::now(), traffic.clone()));
                traffic
            }
        };
        let status = crate::app::status::report(
            plan,
            &endpoints,
            limits,
            Some(&ledger),
            (&self.context, &config),
            modified,
            &traffic,
        );
        let usage = status.usage.clone();
        if let Some(dir) = &config.metrics_textfile {
            let text = nm_mptcp_core::metrics::render(&status);
            if let Err(e) = crate::adapters::textfile::write(dir, &text) {
                tracing::warn!(error = %e, "cannot keep the metrics file current");
            }
        }
        Ok((
            dbus_service::publish(&self.bus, published, status).await?,
            usage,
        ))
    }
}
