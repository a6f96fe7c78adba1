//! Stopping on SIGTERM or SIGINT: hand leadership to a peer (as etcd does),
//! stop accepting client connections, let requests in flight finish and end
//! Watch and LeaseKeepAlive streams with "server stopped", then stop the
//! actors. Bounded: past `DRAIN_TIMEOUT` the actors stop anyway, a hard
//! deadline exits the process, and a second signal exits at once. Nothing
//! acknowledged is at risk at any of these points: every acknowledged write
//! is in the fsynced WAL.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::actors::raft_node::{HandOffLeadership, RaftNode};
use crate::actors::status::RaftStatusBoard;
use crate::api::shutdown::ShutdownTrigger;

/// How long requests in flight get to finish once the listeners close.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Beyond the hand-off and the drain, how long stopping the actors may take
/// before the process exits regardless.
const STOP_MARGIN: Duration = Duration::from_secs(2);
/// How often the hand-off checks for the new leader.
const HAND_OFF_POLL: Duration = Duration::from_millis(20);

/// SIGTERM and SIGINT, listened to from boot on, so the first one starts a
/// clean stop and a second one is still heard.
pub(super) struct StopSignals {
    term: Signal,
    interrupt: Signal,
}

impl StopSignals {
    /// Needs the runtime (tokio's signal driver).
    pub(super) fn listen() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            term: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// The next signal's name and the exit code its default action would give.
    async fn next(&mut self) -> (&'static str, i32) {
        tokio::select! {
            _ = self.term.recv() => ("SIGTERM", 128 + 15),
            _ = self.interrupt.recv() => ("SIGINT", 128 + 2),
        }
    }
}

/// What the stop needs from the running server.
pub(super) struct Stopping {
    pub signals: StopSignals,
    pub trigger: ShutdownTrigger,
    pub raft: Addr<RaftNode>,
    pub board: Arc<RaftStatusBoard>,
    /// Ends once every client listener has drained.
    pub clients: tokio::task::JoinHandle<()>,
    pub election_timeout: Duration,
}

/// Waits for the first signal, then stops as described above; returns once
/// the actor system has been told to stop.
pub(super) async fn stop_on_signal(stopping: Stopping) {
    let Stopping {
        mut signals,
        trigger,
        raft,
        board,
        clients,
        election_timeout,
    } = stopping;
    let (name, _) = signals.next().await;
    tracing::info!("received {name}: shutting down");
    actix_rt::spawn(async move {
        let (name, code) = signals.next().await;
        tracing::warn!("received {name} again: exiting at once");
        std::process::exit(code);
    });
    let hand_off_limit = election_timeout * 2;
    let deadline = hand_off_limit + DRAIN_TIMEOUT + STOP_MARGIN;
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        tracing::error!("still stopping after {deadline:?}: exiting at once");
        std::process::exit(1);
    });

    hand_off_leadership(&raft, &board, hand_off_limit).await;
    trigger.fire();
    if tokio::time::timeout(DRAIN_TIMEOUT, clients).await.is_err() {
        tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}: stopping anyway");
    }
    tracing::info!("stopped serving clients");
    System::current().stop();
}

async fn hand_off_leadership(raft: &Addr<RaftNode>, board: &RaftStatusBoard, limit: Duration) {
    let Ok(Some(to)) = raft.send(HandOffLeadership).await else {
        return;
    };
    let to_hex = format!("{to:x}");
    tracing::info!(to = %to_hex, "handing leadership to a peer before stopping");
    let waited = tokio::time::timeout(limit, async {
        while board.read().leader != to {
            tokio::time::sleep(HAND_OFF_POLL).await;
        }
    });
    match waited.await {
        Ok(()) => tracing::info!(to = %to_hex, "leadership handed off"),
        Err(_) => tracing::warn!(to = %to_hex, "leadership hand-off did not finish in {limit:?}"),
    }
}
