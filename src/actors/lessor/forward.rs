//! A follower's way to the leader's lessor: the peer service's lease RPCs on
//! the leader's peer URL, one lazily connected channel per member.

use std::collections::HashMap;
use std::future::Future;

use tonic::transport::{Channel, Endpoint};

use super::LeaseStatus;
use crate::actors::ServerError;
use crate::proto::etcdserverpb::{LeaseKeepAliveRequest, LeaseTimeToLiveRequest};
use crate::proto::oxcdpeer::peer_client::PeerClient;

pub struct LeaderLink {
    urls: HashMap<u64, Vec<String>>,
    channels: HashMap<u64, Channel>,
}

impl LeaderLink {
    pub fn new(peer_urls: Vec<(u64, Vec<String>)>) -> Self {
        LeaderLink {
            urls: peer_urls.into_iter().collect(),
            channels: HashMap::new(),
        }
    }

    fn client(&mut self, leader: u64) -> Result<PeerClient<Channel>, ServerError> {
        if let Some(channel) = self.channels.get(&leader) {
            return Ok(PeerClient::new(channel.clone()));
        }
        let url = self
            .urls
            .get(&leader)
            .and_then(|urls| urls.first())
            .ok_or(ServerError::NoLeader)?;
        let channel = Endpoint::from_shared(url.clone())
            .map_err(|_| ServerError::NoLeader)?
            .connect_lazy();
        self.channels.insert(leader, channel.clone());
        Ok(PeerClient::new(channel))
    }

    /// (TTL, revision) from the leader.
    pub fn keep_alive(
        &mut self,
        leader: u64,
        id: i64,
    ) -> impl Future<Output = Result<(i64, i64), ServerError>> + 'static {
        let client = self.client(leader);
        async move {
            let resp = client?
                .lease_keep_alive(LeaseKeepAliveRequest { id })
                .await
                .map_err(|_| ServerError::NoLeader)?
                .into_inner();
            Ok((
                resp.ttl,
                resp.header.map(|h| h.revision).unwrap_or_default(),
            ))
        }
    }

    /// The lease's status (None: unknown lease) and the revision, from the leader.
    pub fn time_to_live(
        &mut self,
        leader: u64,
        id: i64,
        keys: bool,
    ) -> impl Future<Output = Result<(Option<LeaseStatus>, i64), ServerError>> + 'static {
        let client = self.client(leader);
        async move {
            let resp = client?
                .lease_time_to_live(LeaseTimeToLiveRequest { id, keys })
                .await
                .map_err(|_| ServerError::NoLeader)?
                .into_inner();
            let revision = resp.header.map(|h| h.revision).unwrap_or_default();
            let status = (resp.ttl != -1).then_some(LeaseStatus {
                granted_ttl: resp.granted_ttl,
                remaining_ttl: resp.ttl,
                keys: resp.keys,
            });
            Ok((status, revision))
        }
    }
}
