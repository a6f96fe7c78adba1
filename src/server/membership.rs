//! Who is in the cluster at boot: the stored member list, or (first boot)
//! the one `--initial-cluster` describes, or (`--initial-cluster-state
//! existing`) the one a running member hands out.

use prost::Message as _;

use super::BootError;
use crate::config::{ClusterState, Config};
use crate::membership::{Member, Membership};
use crate::proto::etcdserverpb::{self as pb, MemberListResponse, ResponseHeader};
use crate::proto::oxcdpeer::peer_client::PeerClient;
use crate::proto::oxcdpeer::ClusterInfoRequest;
use crate::storage::apply::membership::{decode_members, MEMBERSHIP_META_KEY};
use crate::storage::snapshot::PendingInstall;
use crate::storage::Store;

/// The first boot derives membership from the flags and stores it; later
/// boots use the stored one (as etcd ignores --initial-cluster on restart).
pub(super) fn load_or_bootstrap_membership(
    store: &Store,
    config: &Config,
) -> Result<Membership, BootError> {
    if let Some(bytes) = store.get_meta(MEMBERSHIP_META_KEY)? {
        let stored = decode_members(&bytes)?;
        let header = stored.header.unwrap_or_default();
        let members = stored.members.into_iter().map(Member::from).collect();
        return Ok(Membership {
            cluster_id: header.cluster_id,
            local_id: header.member_id,
            members,
        });
    }
    // First start with --discovery-srv: DNS gives the initial cluster.
    let discovered;
    let config = match &config.discovery_srv {
        Some(domain) => {
            discovered = Config {
                initial_cluster: super::discovery_srv::initial_cluster(config, domain)?,
                ..config.clone()
            };
            &discovered
        }
        None => config,
    };
    if config.initial_cluster_state == ClusterState::Existing {
        let membership = join_existing_cluster(config)?;
        store_membership(store, &membership)?;
        return Ok(membership);
    }
    let membership = Membership::bootstrap(
        &config.initial_cluster,
        &config.name,
        &config.advertise_client_urls,
        &config.initial_cluster_token,
    );
    if membership.local_id == 0 {
        return Err(BootError::Invalid(format!(
            "--initial-cluster has no member named {:?}",
            config.name
        )));
    }
    store_membership(store, &membership)?;
    Ok(membership)
}

/// A snapshot installed from the leader carries the leader's member list
/// record, which names the leader as "this member": name this one again.
/// The consistent index stays, so this changes nothing raft applies.
pub(super) fn adopt_snapshot_membership(
    store: &Store,
    pending: &PendingInstall,
) -> Result<(), BootError> {
    if store.consistent_index() != pending.meta.index {
        return Err(BootError::Invalid(format!(
            "the installed snapshot holds index {} but raft gave index {}",
            store.consistent_index(),
            pending.meta.index
        )));
    }
    let Some(bytes) = store.get_meta(MEMBERSHIP_META_KEY)? else {
        return Err(BootError::Invalid(
            "the installed snapshot has no member list".into(),
        ));
    };
    let mut record = decode_members(&bytes)?;
    record.header.get_or_insert_with(Default::default).member_id = pending.local_id;
    let mut batch = store.begin_batch()?;
    batch.put_meta(MEMBERSHIP_META_KEY, &record.encode_to_vec())?;
    batch.commit(store.consistent_index())?;
    store.sync()?;
    Ok(())
}

/// Records `membership` as this member's list (first boot, or a restore).
pub(crate) fn store_membership(store: &Store, membership: &Membership) -> Result<(), BootError> {
    let record = MemberListResponse {
        header: Some(ResponseHeader {
            cluster_id: membership.cluster_id,
            member_id: membership.local_id,
            ..Default::default()
        }),
        members: membership.members.iter().map(pb::Member::from).collect(),
    };
    let mut batch = store.begin_batch()?;
    batch.put_meta(MEMBERSHIP_META_KEY, &record.encode_to_vec())?;
    batch.commit(store.consistent_index())?;
    store.sync()?;
    Ok(())
}

/// A restored store's member list, recorded as applied at raft index
/// `members.len()` (etcd's restore counts one log entry per member added):
/// the member's log then starts after a cut there (see `cut_restored_log`),
/// so a member added later is sent a snapshot holding the restored data.
pub(crate) fn store_restored_membership(
    store: &Store,
    membership: &Membership,
) -> Result<(), BootError> {
    store_membership(store, membership)?;
    let batch = store.begin_batch()?;
    batch.commit(membership.members.len() as u64)?;
    store.sync()?;
    Ok(())
}

/// `--initial-cluster-state=existing`: ask the other members listed in
/// `--initial-cluster` for the cluster's id and member list, and find this
/// member in it (it must have been added with MemberAdd first).
fn join_existing_cluster(config: &Config) -> Result<Membership, BootError> {
    let own_urls = &config.initial_advertise_peer_urls;
    let others: Vec<&String> = config
        .initial_cluster
        .iter()
        .map(|(_, url)| url)
        .filter(|url| !own_urls.contains(url))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut last_error = String::from("no other member in --initial-cluster");
    for url in others {
        let info = runtime.block_on(async {
            let endpoint = tonic::transport::Endpoint::from_shared(url.clone())
                .map_err(|e| e.to_string())?
                .connect_timeout(std::time::Duration::from_secs(2));
            let channel = crate::peer_dial::connect(endpoint)
                .await
                .map_err(|e| e.to_string())?;
            PeerClient::new(channel)
                .cluster_info(ClusterInfoRequest {})
                .await
                .map(|r| r.into_inner())
                .map_err(|e| e.to_string())
        });
        let info = match info {
            Ok(info) => info,
            Err(err) => {
                last_error = format!("{url}: {err}");
                continue;
            }
        };
        let cluster_id = info.header.map(|h| h.cluster_id).unwrap_or_default();
        let mut members: Vec<Member> = info.members.into_iter().map(Member::from).collect();
        let Some(me) = members
            .iter_mut()
            .find(|m| m.peer_urls.iter().any(|u| own_urls.contains(u)))
        else {
            return Err(BootError::Invalid(format!(
                "this member ({}) is not in cluster {cluster_id:x}: add it with `etcdctl member add` first",
                own_urls.join(",")
            )));
        };
        me.name = config.name.clone();
        me.client_urls = config.advertise_client_urls.clone();
        let local_id = me.id;
        tracing::info!(
            cluster = format!("{cluster_id:x}"),
            member = format!("{local_id:x}"),
            "joining an existing cluster"
        );
        return Ok(Membership {
            cluster_id,
            local_id,
            members,
        });
    }
    Err(BootError::Invalid(format!(
        "--initial-cluster-state=existing: could not reach any other member ({last_error})"
    )))
}
