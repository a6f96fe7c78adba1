//! Cluster state as the members report it: Status, the leader they agree
//! on, which member has an id.

use std::time::{Duration, Instant};

use oxcd::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd::proto::etcdserverpb::{StatusRequest, StatusResponse};

use super::server::Cluster;

/// Member `i`'s Maintenance.Status, or `None` if it does not answer.
pub async fn status_of(cluster: &Cluster, i: usize) -> Option<StatusResponse> {
    let mut client = MaintenanceClient::connect(cluster.member(i).client_url())
        .await
        .ok()?;
    let status = client.status(StatusRequest {}).await.ok()?;
    Some(status.into_inner())
}

/// Waits until every member in `members` names the same leader, one of them.
pub async fn agreed_leader(cluster: &Cluster, members: &[usize], within: Duration) -> u64 {
    let deadline = Instant::now() + within;
    loop {
        let mut leaders = Vec::new();
        let mut ids = Vec::new();
        for &i in members {
            if let Some(status) = status_of(cluster, i).await {
                leaders.push(status.leader);
                ids.push(status.header.map(|h| h.member_id).unwrap_or_default());
            }
        }
        let agreed = leaders.len() == members.len()
            && leaders.iter().all(|l| *l == leaders[0])
            && ids.contains(&leaders[0]);
        if agreed {
            return leaders[0];
        }
        assert!(
            Instant::now() < deadline,
            "no agreed leader within {within:?}: {leaders:x?} among {ids:x?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The index of the member whose id is `id`.
pub async fn member_index_of(cluster: &Cluster, id: u64) -> usize {
    for i in 0..cluster.members.len() {
        if let Some(status) = status_of(cluster, i).await {
            if status.header.map(|h| h.member_id) == Some(id) {
                return i;
            }
        }
    }
    panic!("no member has id {id:x}")
}
