//! The Cluster service: the member list as applied through raft, and
//! membership changes (add, add as learner, remove, update, promote) as raft
//! conf changes, with etcd's checks and errors.

use std::time::{SystemTime, UNIX_EPOCH};

use actix::Addr;
use tonic::{Request, Response, Status};

use super::header::HeaderFiller;
use super::ApiError;
use crate::actors::frontend::{FrontEnd, ProposeMemberChange};
use crate::actors::mvcc_store::{GetMembers, MvccReader};
use crate::actors::raft_node::{LearnerReady, RaftNode};
use crate::actors::ServerError;
use crate::membership::member_id;
use crate::proto::etcdserverpb::cluster_server::Cluster;
use crate::proto::etcdserverpb::*;
use crate::storage::apply::membership::MemberChange;
use crate::storage::apply::ApplyResponse;

/// etcd 3.4 allows one learner at a time.
const MAX_LEARNERS: usize = 1;

pub struct ClusterService {
    frontend: Addr<FrontEnd>,
    raft: Addr<RaftNode>,
    readers: Addr<MvccReader>,
    header: HeaderFiller,
}

impl ClusterService {
    pub fn new(
        frontend: Addr<FrontEnd>,
        raft: Addr<RaftNode>,
        readers: Addr<MvccReader>,
        header: HeaderFiller,
    ) -> Self {
        ClusterService {
            frontend,
            raft,
            readers,
            header,
        }
    }

    /// The applied member list, sorted by id as etcd lists it.
    async fn members(&self) -> Result<Vec<Member>, ApiError> {
        let mut members = self
            .readers
            .send(GetMembers)
            .await
            .map_err(ServerError::from)??;
        members.sort_by_key(|m| m.id);
        Ok(members)
    }

    async fn change(&self, change: MemberChange, member: Member) -> Result<Vec<Member>, ApiError> {
        let reply = self
            .frontend
            .send(ProposeMemberChange { change, member })
            .await
            .map_err(ServerError::from)??;
        match reply {
            ApplyResponse::Members(mut members) => {
                members.sort_by_key(|m| m.id);
                Ok(members)
            }
            _ => Err(ServerError::Stopped.into()),
        }
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

/// etcd's URL rules for peer URLs: http(s)://host:port, nothing more.
fn check_peer_urls(urls: &[String]) -> Result<Vec<String>, ApiError> {
    if urls.is_empty() {
        return Err(ApiError::MemberBadUrls);
    }
    let mut checked = Vec::with_capacity(urls.len());
    for url in urls {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
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
        let req = request.into_inner();
        let urls = check_peer_urls(&req.peer_ur_ls)?;
        let members = self.members().await?;
        if url_taken(&members, &urls, 0) {
            return Err(ApiError::PeerUrlExists.into());
        }
        if req.is_learner && members.iter().filter(|m| m.is_learner).count() >= MAX_LEARNERS {
            return Err(ApiError::TooManyLearners.into());
        }
        // As etcd: the id hashes the URLs and the time, so a member re-added
        // on the same URLs gets a new id.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let id = member_id(&urls, &now.to_string());
        if members.iter().any(|m| m.id == id) {
            return Err(ApiError::MemberExists.into());
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
        let id = request.into_inner().id;
        let members = self.members().await?;
        let member = find(&members, id)?.clone();
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
        let req = request.into_inner();
        let urls = check_peer_urls(&req.peer_ur_ls)?;
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
        let id = request.into_inner().id;
        let members = self.members().await?;
        let member = find(&members, id)?.clone();
        if !member.is_learner {
            return Err(ApiError::MemberNotLearner.into());
        }
        // Only the leader knows how far the learner got.
        let ready = self
            .raft
            .send(LearnerReady { id })
            .await
            .map_err(ServerError::from)
            .and_then(|ready| ready)
            .map_err(ApiError::from)?;
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
