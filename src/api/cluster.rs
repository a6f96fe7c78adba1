//! The Cluster service: the member list as applied through raft, and
//! membership changes (add, add as learner, remove, update, promote) as raft
//! conf changes, with etcd's checks and errors.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix::Addr;
use tonic::{Request, Response, Status};

use super::ask::ask;
use super::header::HeaderFiller;
use super::propose::credentials_of;
use super::ApiError;
use crate::actors::auth::gate::AuthGate;
use crate::actors::frontend::{FrontEnd, ProposeMemberChange};
use crate::actors::mvcc_store::{GetMembers, MvccReader};
use crate::actors::peer_net::PeerHealth;
use crate::actors::proposal::MemberChange;
use crate::actors::raft_node::{LearnerReady, RaftNode};
use crate::actors::ServerError;
use crate::membership::member_id;
use crate::proto::etcdserverpb::cluster_server::Cluster;
use crate::proto::etcdserverpb::*;
use crate::proto::oxcdpeer::peer_client::PeerClient;
use crate::proto::oxcdpeer::LearnerReadyRequest;

/// etcd 3.4 allows one learner at a time.
const MAX_LEARNERS: usize = 1;

/// How long a peer must have been connected to count as healthy for
/// `--strict-reconfig-check` (etcd's HealthInterval).
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

pub struct ClusterService {
    frontend: Addr<FrontEnd>,
    gate: Arc<AuthGate>,
    raft: Addr<RaftNode>,
    readers: Addr<MvccReader>,
    header: HeaderFiller,
    /// `--strict-reconfig-check`: refuse changes a sick cluster could not
    /// survive, judged by how long each peer has been connected.
    strict: Option<PeerHealth>,
}

impl ClusterService {
    pub fn new(
        frontend: Addr<FrontEnd>,
        gate: Arc<AuthGate>,
        raft: Addr<RaftNode>,
        readers: Addr<MvccReader>,
        header: HeaderFiller,
        strict: Option<PeerHealth>,
    ) -> Self {
        ClusterService {
            frontend,
            gate,
            raft,
            readers,
            header,
            strict,
        }
    }

    /// Voting members (this one included) connected for a health interval.
    fn healthy_voters(&self, health: &PeerHealth, members: &[Member]) -> usize {
        let long_enough = Instant::now().checked_sub(HEALTH_INTERVAL);
        members
            .iter()
            .filter(|m| !m.is_learner)
            .filter(|m| {
                m.id == self.header.member_id
                    || match (health.active_since(m.id), long_enough) {
                        (Some(since), Some(cutoff)) => since <= cutoff,
                        _ => false,
                    }
            })
            .count()
    }

    /// A follower's way to learn whether the leader thinks `id` is ready.
    async fn ask_leader_learner_ready(
        &self,
        members: &[Member],
        id: u64,
    ) -> Result<bool, ApiError> {
        let leader = self.header.board.read().leader;
        let url = members
            .iter()
            .find(|m| m.id == leader)
            .and_then(|m| m.peer_ur_ls.first())
            .ok_or(ServerError::NoLeader)?;
        let endpoint = tonic::transport::Endpoint::from_shared(url.clone())
            .map_err(|_| ServerError::NoLeader)?;
        let channel = crate::peer_dial::connect(endpoint)
            .await
            .map_err(|_| ServerError::NoLeader)?;
        let answer = PeerClient::new(channel)
            .learner_ready(LearnerReadyRequest { id })
            .await
            .map_err(|_| ServerError::NoLeader)?;
        Ok(answer.into_inner().ready)
    }

    /// etcd's check before adding a member: every voter connected.
    fn check_can_add(&self, members: &[Member]) -> Result<(), ApiError> {
        let Some(health) = &self.strict else {
            return Ok(());
        };
        let voters = members.iter().filter(|m| !m.is_learner).count();
        if self.healthy_voters(health, members) < voters {
            return Err(ApiError::Unhealthy);
        }
        Ok(())
    }

    /// etcd's check before removing a voter: the rest keep a quorum.
    fn check_can_remove(&self, members: &[Member], victim: &Member) -> Result<(), ApiError> {
        let Some(health) = &self.strict else {
            return Ok(());
        };
        if victim.is_learner {
            return Ok(());
        }
        // A member that is down is not part of the working quorum anyway.
        if victim.id != self.header.member_id && health.active_since(victim.id).is_none() {
            return Ok(());
        }
        let voters = members.iter().filter(|m| !m.is_learner).count();
        let active = self.healthy_voters(health, members);
        if active.saturating_sub(1) < 1 + (voters - 1) / 2 {
            return Err(ApiError::Unhealthy);
        }
        Ok(())
    }

    /// The applied member list, sorted by id as etcd lists it.
    async fn members(&self) -> Result<Vec<Member>, ApiError> {
        let mut members = ask(&self.readers, GetMembers).await?;
        members.sort_by_key(|m| m.id);
        Ok(members)
    }

    async fn change(&self, change: MemberChange, member: Member) -> Result<Vec<Member>, ApiError> {
        let mut members = ask(&self.frontend, ProposeMemberChange { change, member }).await?;
        members.sort_by_key(|m| m.id);
        Ok(members)
    }

    /// Member changes are for root alone while auth is on (etcd checks
    /// this before anything about the members).
    async fn check_admin<T>(&self, request: &Request<T>) -> Result<(), ApiError> {
        Ok(self.gate.check_admin(&credentials_of(request)).await?)
    }

    /// etcd's cluster responses carry no revision.
    fn header(&self) -> Option<ResponseHeader> {
        let mut header = None;
        self.header.fill(&mut header);
        header
    }
}

/// The member with `id`, or etcd's "member not found".
fn find(members: &[Member], id: u64) -> Result<&Member, ApiError> {
    members
        .iter()
        .find(|m| m.id == id)
        .ok_or(ApiError::MemberNotFound)
}

/// etcd's URL rules for peer URLs: http(s)://host:port or
/// unix(s)://host:port, nothing more.
fn check_peer_urls(urls: &[String]) -> Result<Vec<String>, ApiError> {
    if urls.is_empty() {
        return Err(ApiError::MemberBadUrls);
    }
    let mut checked = Vec::with_capacity(urls.len());
    for url in urls {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .or_else(|| url.strip_prefix("unix://"))
            .or_else(|| url.strip_prefix("unixs://"))
            .ok_or(ApiError::MemberBadUrls)?;
        let (host, port) = rest.rsplit_once(':').ok_or(ApiError::MemberBadUrls)?;
        if host.is_empty() || host.contains('/') || port.parse::<u16>().is_err() {
            return Err(ApiError::MemberBadUrls);
        }
        checked.push(url.clone());
    }
    checked.sort();
    Ok(checked)
}

/// A peer URL some other member already has.
fn url_taken(members: &[Member], urls: &[String], except: u64) -> bool {
    members
        .iter()
        .filter(|m| m.id != except)
        .any(|m| m.peer_ur_ls.iter().any(|u| urls.contains(u)))
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    #[tracing::instrument(name = "cluster.member_list", skip_all)]
    async fn member_list(
        &self,
        _request: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        // Other members' client URLs appear once they have published them.
        let members = self.members().await?;
        Ok(Response::new(MemberListResponse {
            header: self.header(),
            members,
        }))
    }

    #[tracing::instrument(name = "cluster.member_add", skip_all)]
    async fn member_add(
        &self,
        request: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        let req = request.get_ref().clone();
        let urls = check_peer_urls(&req.peer_ur_ls)?;
        self.check_admin(&request).await?;
        let members = self.members().await?;
        self.check_can_add(&members)?;
        // As etcd: the id hashes the URLs and the time, so a member re-added
        // on the same URLs later gets a new id; the checks run in etcd's
        // order (id, URLs, learners).
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let id = member_id(&urls, &now.to_string());
        if members.iter().any(|m| m.id == id) {
            return Err(ApiError::MemberExists.into());
        }
        if url_taken(&members, &urls, 0) {
            return Err(ApiError::PeerUrlExists.into());
        }
        if req.is_learner && members.iter().filter(|m| m.is_learner).count() >= MAX_LEARNERS {
            return Err(ApiError::TooManyLearners.into());
        }
        let member = Member {
            id,
            name: String::new(),
            peer_ur_ls: urls,
            client_ur_ls: Vec::new(),
            is_learner: req.is_learner,
        };
        let members = self.change(MemberChange::Add, member.clone()).await?;
        Ok(Response::new(MemberAddResponse {
            header: self.header(),
            member: Some(member),
            members,
        }))
    }

    #[tracing::instrument(name = "cluster.member_remove", skip_all)]
    async fn member_remove(
        &self,
        request: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        self.check_admin(&request).await?;
        let id = request.into_inner().id;
        let members = self.members().await?;
        let member = find(&members, id)?.clone();
        self.check_can_remove(&members, &member)?;
        let members = self.change(MemberChange::Remove, member).await?;
        Ok(Response::new(MemberRemoveResponse {
            header: self.header(),
            members,
        }))
    }

    #[tracing::instrument(name = "cluster.member_update", skip_all)]
    async fn member_update(
        &self,
        request: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        let req = request.get_ref().clone();
        let urls = check_peer_urls(&req.peer_ur_ls)?;
        self.check_admin(&request).await?;
        let members = self.members().await?;
        let mut member = find(&members, req.id)?.clone();
        if url_taken(&members, &urls, req.id) {
            return Err(ApiError::PeerUrlExists.into());
        }
        member.peer_ur_ls = urls;
        let members = self.change(MemberChange::Update, member).await?;
        Ok(Response::new(MemberUpdateResponse {
            header: self.header(),
            members,
        }))
    }

    #[tracing::instrument(name = "cluster.member_promote", skip_all)]
    async fn member_promote(
        &self,
        request: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        self.check_admin(&request).await?;
        let id = request.into_inner().id;
        let members = self.members().await?;
        let member = find(&members, id)?.clone();
        if !member.is_learner {
            return Err(ApiError::MemberNotLearner.into());
        }
        // Only the leader knows how far the learner got: a follower asks it.
        let here = self
            .raft
            .send(LearnerReady { id })
            .await
            .map_err(ServerError::from)
            .and_then(|ready| ready);
        let ready = match here {
            Err(ServerError::NotLeader) => self.ask_leader_learner_ready(&members, id).await?,
            other => other.map_err(ApiError::from)?,
        };
        if !ready {
            return Err(ApiError::LearnerNotReady.into());
        }
        let members = self.change(MemberChange::Promote, member).await?;
        Ok(Response::new(MemberPromoteResponse {
            header: self.header(),
            members,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_urls_follow_etcds_rules() {
        assert_eq!(
            check_peer_urls(&["http://10.0.0.2:2380".into()]).ok(),
            Some(vec!["http://10.0.0.2:2380".to_string()])
        );
        for bad in [
            "10.0.0.2:2380",
            "http://10.0.0.2",
            "http://:2380",
            "ftp://a:1",
        ] {
            assert!(check_peer_urls(&[bad.to_string()]).is_err(), "{bad}");
        }
        assert!(check_peer_urls(&[]).is_err());
    }

    #[test]
    fn a_url_is_taken_only_by_another_member() {
        let members = vec![Member {
            id: 1,
            peer_ur_ls: vec!["http://a:1".into()],
            ..Default::default()
        }];
        let urls = vec!["http://a:1".to_string()];
        assert!(url_taken(&members, &urls, 0));
        assert!(!url_taken(&members, &urls, 1));
    }
}
