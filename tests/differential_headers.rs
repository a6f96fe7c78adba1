//! Differential test of response headers: the same gRPC calls (every RPC
//! oxcd serves, successes and errors) against a 3-member etcd and a 3-member
//! oxcd; every answer's header (present or not, cluster and member ids,
//! revision, whether a term is set) or error must be the same.

use crate::common;

use common::diff::line_diff;
use common::header_script;
use common::{require_etcd, Cluster, ServerKind};

async fn transcript(kind: ServerKind) -> String {
    let cluster = Cluster::builder(kind).members(3).start();
    header_script::run(&cluster).await.text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_header_matches_etcd() {
    if !require_etcd("every_response_header_matches_etcd") {
        return;
    }
    let etcd = transcript(ServerKind::Etcd).await;
    let oxcd = transcript(ServerKind::Oxcd).await;
    assert!(
        etcd == oxcd,
        "headers differ:\n{}",
        line_diff(&etcd, &oxcd, "etcd", "oxcd")
    );
    // The transcript really covers the calls (not two empty lists).
    assert!(etcd.lines().count() >= 40, "{etcd}");
}
