//! `/metrics`: refreshes the gauges that mirror state kept elsewhere, then
//! writes every metric in Prometheus' text format.

use axum::body::Body;
use axum::extract::State;
use http::{Method, Response};

use super::{only_get, with_content_type, HttpContext};
use crate::actors::mvcc_store::{CountLiveKeys, GetBackendStatus};
use crate::actors::raft_node::GetNodeStatus;
use crate::metrics::{encode_text, metrics};

#[tracing::instrument(name = "http.metrics", skip_all)]
pub async fn metrics_page(State(ctx): State<HttpContext>, method: Method) -> Response<Body> {
    if let Some(refused) = only_get(&method) {
        return refused;
    }
    refresh_gauges(&ctx).await;
    with_content_type(encode_text(), "text/plain; version=0.0.4; charset=utf-8")
}

async fn refresh_gauges(ctx: &HttpContext) {
    let m = metrics();
    let raft = ctx.board.read();
    m.server.has_leader.set(i64::from(raft.leader != 0));
    m.server
        .is_leader
        .set(i64::from(raft.leader != 0 && raft.leader == ctx.local_id));
    m.server
        .proposals_committed_total
        .set(raft.committed as i64);
    m.server.proposals_applied_total.set(raft.applied as i64);
    m.server
        .server_id
        .with_label_values(&[&format!("{:x}", ctx.local_id)])
        .set(1);
    if let Ok(node) = ctx.raft.send(GetNodeStatus).await {
        m.server.is_learner.set(i64::from(node.is_learner));
    }
    // A store that cannot answer leaves the last figures in place.
    if let Ok(Ok(backend)) = ctx.readers.send(GetBackendStatus).await {
        m.mvcc.db_total_size_in_bytes.set(backend.db_size as i64);
        m.mvcc
            .db_total_size_in_use_in_bytes
            .set(backend.db_size_in_use as i64);
        m.mvcc.current_revision.set(backend.revision);
    }
    if let Ok(keys) = ctx.readers.send(CountLiveKeys).await {
        m.mvcc.keys_total.set(keys as i64);
    }
}
