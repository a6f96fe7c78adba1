//! The peer network: raft messages out to the other members. One sending
//! task per peer keeps a client stream (`oxcdpeer.Peer/Raft`) open to that
//! peer's URL, reconnecting with backoff when it breaks. Messages for a peer
//! that is down, or whose queue is full, are dropped: raft resends what
//! matters (heartbeats, appends after a rejection, votes on the next
//! election), which is what etcd's transport relies on too. Snapshots go
//! as files, each on a call of its own (`snapshot_sender`).

mod snapshot_sender;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix::prelude::*;
use protobuf::Message as _;
use raft::eraftpb::Message as RaftMessage;
use tokio::sync::mpsc;
use tonic::transport::Endpoint;

use crate::actors::protocol::UpdatePeers;
use crate::proto::oxcdpeer::peer_client::PeerClient;
use crate::proto::oxcdpeer::{ProbeRequest, RaftEnvelope};

/// Envelopes queued per peer before new ones are dropped.
const PEER_QUEUE: usize = 4096;
/// Reconnect backoff: from the first to the last, doubling.
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Between round-trip probes of a connected peer.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);

pub struct PeerNet {
    cluster_id: u64,
    local_id: u64,
    peers: HashMap<u64, mpsc::Sender<RaftEnvelope>>,
    urls: HashMap<u64, Vec<String>>,
    health: PeerHealth,
}

/// Since when this member has had a working stream to each peer (etcd's
/// transport "active since"), for `--strict-reconfig-check`.
#[derive(Clone, Default)]
pub struct PeerHealth {
    active_since: Arc<Mutex<HashMap<u64, Instant>>>,
}

impl PeerHealth {
    fn set(&self, id: u64, since: Option<Instant>) {
        let mut map = self
            .active_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match since {
            Some(at) => map.insert(id, at),
            None => map.remove(&id),
        };
    }

    /// When the stream to `id` opened, if it is up.
    pub fn active_since(&self, id: u64) -> Option<Instant> {
        self.active_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .copied()
    }
}

impl PeerNet {
    /// `peers`: every other member's id and peer URLs.
    pub fn new(
        cluster_id: u64,
        local_id: u64,
        peers: Vec<(u64, Vec<String>)>,
        health: PeerHealth,
    ) -> Self {
        let mut senders = HashMap::new();
        let mut peer_urls = HashMap::new();
        for (id, urls) in peers {
            let (tx, rx) = mpsc::channel(PEER_QUEUE);
            actix_rt::spawn(send_loop(id, urls.clone(), rx, health.clone()));
            senders.insert(id, tx);
            peer_urls.insert(id, urls);
        }
        PeerNet {
            cluster_id,
            local_id,
            peers: senders,
            urls: peer_urls,
            health,
        }
    }
}

impl Actor for PeerNet {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(crate::actors::MAILBOX_CAPACITY);
    }
}

impl Handler<UpdatePeers> for PeerNet {
    type Result = ();

    fn handle(&mut self, msg: UpdatePeers, _: &mut Context<Self>) {
        match msg {
            UpdatePeers::Set(id, urls) => {
                // A promotion keeps the URLs: keep the stream too.
                if self.urls.get(&id) == Some(&urls) {
                    return;
                }
                // A new sending task; the old one (if any) ends with its queue.
                // The member is not connected at its new URLs until the new
                // task says so.
                self.health.set(id, None);
                let (tx, rx) = mpsc::channel(PEER_QUEUE);
                actix_rt::spawn(send_loop(id, urls.clone(), rx, self.health.clone()));
                self.peers.insert(id, tx);
                self.urls.insert(id, urls);
            }
            UpdatePeers::Remove(id) => {
                self.peers.remove(&id);
                self.urls.remove(&id);
                self.health.set(id, None);
            }
        }
    }
}

/// Raft messages to send, in order, to whichever peers they name.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SendRaft {
    pub messages: Vec<RaftMessage>,
}

impl Handler<SendRaft> for PeerNet {
    type Result = ();

    fn handle(&mut self, msg: SendRaft, _: &mut Context<Self>) {
        let mut by_peer: HashMap<u64, Vec<Vec<u8>>> = HashMap::new();
        for message in msg.messages {
            match message.write_to_bytes() {
                Ok(bytes) => by_peer.entry(message.to).or_default().push(bytes),
                Err(err) => tracing::warn!("raft message not encodable: {err}"),
            }
        }
        for (to, messages) in by_peer {
            let Some(queue) = self.peers.get(&to) else {
                tracing::warn!(to = format!("{to:x}"), "raft message for an unknown member");
                continue;
            };
            let envelope = RaftEnvelope {
                cluster_id: self.cluster_id,
                from: self.local_id,
                to,
                messages,
            };
            if queue.try_send(envelope).is_err() {
                tracing::debug!(
                    to = format!("{to:x}"),
                    "peer queue full; raft messages dropped"
                );
            }
        }
    }
}

/// A raft MsgSnapshot and the file holding its data: streamed to the peer
/// the message names. Answers the bytes the peer took.
#[derive(Message)]
#[rtype(result = "Result<u64, String>")]
pub struct SendSnapshot {
    pub message: RaftMessage,
    pub file: PathBuf,
}

impl Handler<SendSnapshot> for PeerNet {
    type Result = ResponseFuture<Result<u64, String>>;

    fn handle(&mut self, msg: SendSnapshot, _: &mut Context<Self>) -> Self::Result {
        let to = msg.message.to;
        let urls = self.urls.get(&to).cloned().unwrap_or_default();
        let transfer =
            msg.message
                .write_to_bytes()
                .map(|message| snapshot_sender::SnapshotTransfer {
                    cluster_id: self.cluster_id,
                    from: self.local_id,
                    to,
                    message,
                    file: msg.file,
                });
        Box::pin(async move {
            let transfer = transfer.map_err(|e| format!("raft message not encodable: {e}"))?;
            snapshot_sender::send_snapshot(urls, transfer).await
        })
    }
}

/// Keeps one stream open to the peer and feeds it the queue.
async fn send_loop(
    id: u64,
    urls: Vec<String>,
    mut queue: mpsc::Receiver<RaftEnvelope>,
    health: PeerHealth,
) {
    let mut backoff = BACKOFF_MIN;
    let mut attempt = 0usize;
    loop {
        let url = &urls[attempt % urls.len().max(1)];
        attempt += 1;
        let connected = match Endpoint::from_shared(url.clone()) {
            Ok(endpoint) => crate::peer_dial::connect(
                endpoint
                    .connect_timeout(Duration::from_secs(1))
                    .tcp_nodelay(true),
            )
            .await
            .ok(),
            Err(_) => None,
        };
        let Some(channel) = connected else {
            // Drop what piled up while the peer was away: raft resends.
            loop {
                match queue.try_recv() {
                    Ok(_) => continue,
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    // Replaced or removed: this task's job is over.
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
            continue;
        };
        // Replaced or removed while dialling: the health entry is not ours.
        if queue.is_closed() {
            return;
        }
        backoff = BACKOFF_MIN;
        tracing::debug!(peer = format!("{id:x}"), %url, "peer stream open");
        health.set(id, Some(Instant::now()));
        let (tx, rx) = mpsc::channel::<RaftEnvelope>(64);
        let prober = tokio::spawn(probe_round_trips(id, PeerClient::new(channel.clone())));
        let mut client = PeerClient::new(channel);
        let call = tokio::spawn(async move {
            client
                .raft(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
        });
        // Forward until the stream breaks (the call ends) or we shut down.
        let mut call = call;
        loop {
            tokio::select! {
                next = queue.recv() => {
                    // Replaced or removed: the health entry is no longer
                    // this task's (its successor's, or cleared by Remove).
                    let Some(envelope) = next else {
                        return;
                    };
                    if tx.send(envelope).await.is_err() {
                        break;
                    }
                }
                ended = &mut call => {
                    if let Ok(Err(status)) = ended {
                        tracing::debug!(peer = format!("{id:x}"), "peer stream ended: {status}");
                    }
                    break;
                }
            }
        }
        prober.abort();
        if queue.is_closed() {
            return;
        }
        health.set(id, None);
        tokio::time::sleep(backoff).await;
    }
}

/// Times an empty call to the peer every `PROBE_INTERVAL` while its stream
/// is up (etcd's prober does the same over its peer connection).
async fn probe_round_trips(id: u64, mut client: PeerClient<tonic::transport::Channel>) {
    let histogram = crate::metrics::metrics()
        .network
        .peer_round_trip_time_seconds
        .with_label_values(&[&format!("{id:x}")]);
    loop {
        tokio::time::sleep(PROBE_INTERVAL).await;
        let started = Instant::now();
        if client.probe(ProbeRequest {}).await.is_ok() {
            histogram.observe(crate::metrics::seconds_since(started));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn a_member_that_moves_is_not_connected_until_its_new_stream_is() {
        let health = PeerHealth::default();
        let net = PeerNet::new(
            1,
            1,
            vec![(2, vec!["http://127.0.0.1:1".into()])],
            health.clone(),
        )
        .start();
        health.set(2, Some(Instant::now()));

        // Same URLs (a promotion): the stream and its health stay.
        let same = UpdatePeers::Set(2, vec!["http://127.0.0.1:1".into()]);
        net.send(same).await.unwrap();
        assert!(health.active_since(2).is_some());

        // New URLs where nothing listens: not connected any more.
        let moved = UpdatePeers::Set(2, vec!["http://127.0.0.1:2".into()]);
        net.send(moved).await.unwrap();
        assert!(health.active_since(2).is_none());
        // The replaced task, dialling its old URL, never marks it again.
        tokio::time::sleep(BACKOFF_MIN * 4).await;
        assert!(health.active_since(2).is_none());
    }
}
