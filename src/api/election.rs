//! v3election: etcd's server-side leader election. Campaign puts
//! `name/<lease>` with the candidate's value and waits until every older
//! candidate's key is gone; Proclaim changes the leader's value while its key
//! is still the one it created; Resign deletes it; Leader reads the oldest
//! key under `name/`; Observe streams the leader's value as it changes.
//! A lease that expires deletes the key and so ends the leadership.

use std::pin::Pin;

use actix::Addr;
use futures::Stream;
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status};

use super::concurrency::{
    create_or_get, if_created_at, key_prefix, prefix_end, session_key, until_caller_leaves,
    KeyWatch, RecipeSource, Recipes,
};
use super::error::via_etcd_client;
use super::header::HeaderFiller;
use super::lock::first_kv_of;
use super::ApiError;
use crate::actors::frontend::FrontEnd;
use crate::actors::watch_hub::WatchHub;
use crate::proto::etcdserverpb::{request_op, DeleteRangeRequest, PutRequest, ResponseHeader};
use crate::proto::mvccpb::event::EventType;
use crate::proto::mvccpb::KeyValue;
use crate::proto::v3electionpb::election_server::Election;
use crate::proto::v3electionpb::{
    CampaignRequest, CampaignResponse, LeaderKey, LeaderRequest, LeaderResponse, ProclaimRequest,
    ProclaimResponse, ResignRequest, ResignResponse,
};

type ObserveStream = Pin<Box<dyn Stream<Item = Result<LeaderResponse, Status>> + Send>>;

pub struct ElectionService {
    source: RecipeSource,
}

impl ElectionService {
    pub fn new(frontend: Addr<FrontEnd>, hub: Addr<WatchHub>, header: HeaderFiller) -> Self {
        ElectionService {
            source: RecipeSource {
                frontend,
                hub,
                header,
            },
        }
    }
}

#[tonic::async_trait]
impl Election for ElectionService {
    type ObserveStream = ObserveStream;

    #[tracing::instrument(name = "election.campaign", level = "debug", skip_all)]
    async fn campaign(
        &self,
        request: Request<CampaignRequest>,
    ) -> Result<Response<CampaignResponse>, Status> {
        let recipes = self.source.recipes(&request);
        let request = request.into_inner();
        let elected = until_caller_leaves(|gone| campaign(recipes, request, gone))
            .await
            .map_err(via_etcd_client)?;
        Ok(Response::new(elected))
    }

    #[tracing::instrument(name = "election.proclaim", level = "debug", skip_all)]
    async fn proclaim(
        &self,
        request: Request<ProclaimRequest>,
    ) -> Result<Response<ProclaimResponse>, Status> {
        let recipes = self.source.recipes(&request);
        let ProclaimRequest { leader, value } = request.into_inner();
        let mut leader = leader
            .ok_or(ApiError::MissingLeaderKey)
            .map_err(via_etcd_client)?;
        leader.lease = recipes
            .session_lease(leader.lease)
            .await
            .map_err(via_etcd_client)?;
        let header = proclaim(&recipes, &leader, &value)
            .await
            .map_err(via_etcd_client)?;
        Ok(Response::new(ProclaimResponse { header }))
    }

    #[tracing::instrument(name = "election.leader", level = "debug", skip_all)]
    async fn leader(
        &self,
        request: Request<LeaderRequest>,
    ) -> Result<Response<LeaderResponse>, Status> {
        let recipes = self.source.recipes(&request);
        let prefix = key_prefix(&request.into_inner().name);
        let found = recipes
            .first_created(&prefix)
            .await
            .map_err(via_etcd_client)?;
        let kv = found
            .kvs
            .into_iter()
            .next()
            .ok_or(ApiError::ElectionNoLeader)
            .map_err(via_etcd_client)?;
        Ok(Response::new(LeaderResponse {
            header: found.header,
            kv: Some(kv),
        }))
    }

    #[tracing::instrument(name = "election.observe", level = "debug", skip_all)]
    async fn observe(
        &self,
        request: Request<LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        let recipes = self.source.recipes(&request);
        let prefix = key_prefix(&request.into_inner().name);
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let ended = observe(&recipes, &prefix, &tx).await;
            if let Err(err) = ended {
                let _ = tx.send(Err(via_etcd_client(err))).await;
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    #[tracing::instrument(name = "election.resign", level = "debug", skip_all)]
    async fn resign(
        &self,
        request: Request<ResignRequest>,
    ) -> Result<Response<ResignResponse>, Status> {
        let recipes = self.source.recipes(&request);
        let mut leader = request
            .into_inner()
            .leader
            .ok_or(ApiError::MissingLeaderKey)
            .map_err(via_etcd_client)?;
        leader.lease = recipes
            .session_lease(leader.lease)
            .await
            .map_err(via_etcd_client)?;
        let header = resign(&recipes, &leader).await.map_err(via_etcd_client)?;
        Ok(Response::new(ResignResponse { header }))
    }
}

/// etcd's `Election.Campaign`.
async fn campaign(
    recipes: Recipes,
    request: CampaignRequest,
    mut gone: oneshot::Receiver<()>,
) -> Result<CampaignResponse, ApiError> {
    let CampaignRequest { name, lease, value } = request;
    let lease = recipes.session_lease(lease).await?;
    let prefix = key_prefix(&name);
    let key = session_key(&prefix, lease);
    let response = recipes
        .txn(create_or_get(&key, &value, lease, Vec::new()))
        .await?;
    let mut leader = LeaderKey {
        name,
        key,
        rev: response.header.as_ref().map_or(0, |h| h.revision),
        lease,
    };
    if !response.succeeded {
        let existing = first_kv_of(&response, 0).cloned().unwrap_or_default();
        leader.rev = existing.create_revision;
        if existing.value != value {
            if let Err(err) = proclaim(&recipes, &leader, &value).await {
                let _ = resign(&recipes, &leader).await;
                return Err(err);
            }
        }
    }
    let waited = tokio::select! {
        waited = recipes.wait_deletes(&prefix, leader.rev - 1) => waited,
        _ = &mut gone => Err(ApiError::Canceled),
    };
    if let Err(err) = waited {
        if matches!(err, ApiError::Canceled) {
            let _ = resign(&recipes, &leader).await;
        }
        return Err(err);
    }
    Ok(CampaignResponse {
        header: response.header,
        leader: Some(leader),
    })
}

/// Puts the new value while the leader's key is the one it created.
async fn proclaim(
    recipes: &Recipes,
    leader: &LeaderKey,
    value: &[u8],
) -> Result<Option<ResponseHeader>, ApiError> {
    let put = request_op::Request::RequestPut(PutRequest {
        key: leader.key.clone(),
        value: value.to_vec(),
        lease: leader.lease,
        ..Default::default()
    });
    let response = recipes
        .txn(if_created_at(&leader.key, leader.rev, put))
        .await?;
    if !response.succeeded {
        return Err(ApiError::ElectionNotLeader);
    }
    Ok(response.header)
}

/// Deletes the leader's key if it is still the one it created.
async fn resign(recipes: &Recipes, leader: &LeaderKey) -> Result<Option<ResponseHeader>, ApiError> {
    let delete = request_op::Request::RequestDeleteRange(DeleteRangeRequest {
        key: leader.key.clone(),
        ..Default::default()
    });
    let response = recipes
        .txn(if_created_at(&leader.key, leader.rev, delete))
        .await?;
    Ok(response.header)
}

/// etcd's `Election.observe`: the current leader (or the first one to
/// come), then each new value of its key until it is deleted; again.
/// Returns when the caller is gone.
async fn observe(
    recipes: &Recipes,
    prefix: &[u8],
    tx: &mpsc::Sender<Result<LeaderResponse, Status>>,
) -> Result<(), ApiError> {
    loop {
        let found = recipes.first_created(prefix).await?;
        let (revision, kv) = match found.kvs.into_iter().next() {
            Some(kv) => (found.header.as_ref().map_or(0, |h| h.revision), kv),
            None => {
                let from = found.header.as_ref().map_or(0, |h| h.revision);
                let Some(kv) = first_put(recipes, prefix, from).await? else {
                    return Ok(());
                };
                (kv.mod_revision, kv)
            }
        };
        let key = kv.key.clone();
        if !send(recipes, tx, revision, kv).await {
            return Ok(());
        }
        let mut watch = KeyWatch::start(&recipes.hub, &key, &[], revision + 1).await?;
        'leader: loop {
            let Some(response) = watch.next().await else {
                return Ok(());
            };
            let revision = response.header.as_ref().map_or(0, |h| h.revision);
            for event in response.events {
                if event.r#type == EventType::Delete as i32 {
                    break 'leader;
                }
                let Some(kv) = event.kv else { continue };
                if !send(recipes, tx, revision, kv).await {
                    return Ok(());
                }
            }
        }
    }
}

/// The first key put under `prefix` from revision `from` on.
async fn first_put(
    recipes: &Recipes,
    prefix: &[u8],
    from: i64,
) -> Result<Option<KeyValue>, ApiError> {
    let mut watch = KeyWatch::start(&recipes.hub, prefix, &prefix_end(prefix), from).await?;
    while let Some(response) = watch.next().await {
        let put = response
            .events
            .into_iter()
            .find(|e| e.r#type == EventType::Put as i32)
            .and_then(|e| e.kv);
        if put.is_some() {
            return Ok(put);
        }
    }
    Ok(None)
}

/// One observed leader value; false once the caller is gone.
async fn send(
    recipes: &Recipes,
    tx: &mpsc::Sender<Result<LeaderResponse, Status>>,
    revision: i64,
    kv: KeyValue,
) -> bool {
    let mut header = Some(ResponseHeader {
        revision,
        ..Default::default()
    });
    recipes.header.fill(&mut header);
    tx.send(Ok(LeaderResponse {
        header,
        kv: Some(kv),
    }))
    .await
    .is_ok()
}
