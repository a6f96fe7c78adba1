//! KV behaviour through a tonic client, for what etcdctl cannot send:
//! min/max revision filters, nested txns, count_only, LEASE compares, values
//! at the request size limit; plus the services a client probes at startup.

use crate::common;

use common::grpc::{kv, put};
use common::{Cluster, ServerKind};
use oxcd::proto::etcdserverpb::auth_client::AuthClient;
use oxcd::proto::etcdserverpb::cluster_client::ClusterClient;
use oxcd::proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use oxcd::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd::proto::etcdserverpb::request_op::Request as Op;
use oxcd::proto::etcdserverpb::response_op::Response as OpResponse;
use oxcd::proto::etcdserverpb::*;
use tonic::transport::Channel;
use tonic::Code;

fn range_of(key: &str, end: &str) -> RangeRequest {
    RangeRequest {
        key: key.into(),
        range_end: end.into(),
        ..Default::default()
    }
}

fn keys(response: &RangeResponse) -> Vec<String> {
    response
        .kvs
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

#[tokio::test]
async fn revision_filters_count_only_and_header() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let mut client = kv(&cluster).await;
    let a = put(&mut client, "f/a", "1").await; // rev 2
    let b = put(&mut client, "f/b", "1").await; // rev 3
    let _ = put(&mut client, "f/a", "2").await; // rev 4: a's mod rev moves, create stays
    let c = put(&mut client, "f/c", "1").await; // rev 5
    assert_eq!((a, b, c), (2, 3, 5));

    let mut request = range_of("f/", "f0");
    request.min_mod_revision = 4;
    let response = client.range(request.clone()).await.unwrap().into_inner();
    assert_eq!(keys(&response), ["f/a", "f/c"]);
    assert_eq!(response.count, 3, "count ignores the filters, as in etcd");

    request.min_mod_revision = 0;
    request.max_mod_revision = 3;
    assert_eq!(
        keys(&client.range(request.clone()).await.unwrap().into_inner()),
        ["f/b"]
    );

    request.max_mod_revision = 0;
    request.min_create_revision = 3;
    assert_eq!(
        keys(&client.range(request.clone()).await.unwrap().into_inner()),
        ["f/b", "f/c"]
    );

    request.min_create_revision = 0;
    request.max_create_revision = 2;
    assert_eq!(
        keys(&client.range(request.clone()).await.unwrap().into_inner()),
        ["f/a"]
    );

    let mut count_only = range_of("f/", "f0");
    count_only.count_only = true;
    let response = client.range(count_only).await.unwrap().into_inner();
    assert!(response.kvs.is_empty());
    assert_eq!(response.count, 3);
    let header = response.header.unwrap();
    assert_eq!(header.revision, 5);
    assert_ne!(header.cluster_id, 0);
    assert_ne!(header.member_id, 0);
    assert!(header.raft_term >= 1);
}

#[tokio::test]
async fn nested_txn_is_one_revision_and_sees_its_own_writes() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let mut client = kv(&cluster).await;
    put(&mut client, "n/x", "1").await; // rev 2

    let inner = TxnRequest {
        compare: vec![Compare {
            key: "n/x".into(),
            result: CompareResult::Equal as i32,
            target: CompareTarget::Value as i32,
            target_union: Some(TargetUnion::Value("1".into())),
            ..Default::default()
        }],
        success: vec![
            RequestOp {
                request: Some(Op::RequestPut(PutRequest {
                    key: "n/y".into(),
                    value: "2".into(),
                    ..Default::default()
                })),
            },
            RequestOp {
                request: Some(Op::RequestRange(range_of("n/y", ""))),
            },
        ],
        failure: vec![],
    };
    let outer = TxnRequest {
        compare: vec![],
        success: vec![
            RequestOp {
                request: Some(Op::RequestPut(PutRequest {
                    key: "n/z".into(),
                    value: "3".into(),
                    ..Default::default()
                })),
            },
            RequestOp {
                request: Some(Op::RequestTxn(inner)),
            },
        ],
        failure: vec![],
    };
    let response = client.txn(outer).await.unwrap().into_inner();
    assert!(response.succeeded);
    assert_eq!(
        response.header.as_ref().unwrap().revision,
        3,
        "the whole nested txn is one revision"
    );
    let Some(OpResponse::ResponseTxn(nested)) = &response.responses[1].response else {
        panic!("second response should be the nested txn: {response:?}");
    };
    assert!(nested.succeeded);
    let Some(OpResponse::ResponseRange(read)) = &nested.responses[1].response else {
        panic!("nested second op should be a range");
    };
    assert_eq!(
        read.kvs[0].value, b"2",
        "a range inside the txn sees the txn's put"
    );
    assert_eq!(read.kvs[0].mod_revision, 3);
    let all = client
        .range(range_of("n/", "n0"))
        .await
        .unwrap()
        .into_inner();
    let mods: Vec<i64> = all.kvs.iter().map(|kv| kv.mod_revision).collect();
    assert_eq!(mods, [2, 3, 3]);
}

#[tokio::test]
async fn lease_compares_see_lease_zero_on_plain_keys() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let mut client = kv(&cluster).await;
    put(&mut client, "l/a", "v").await;
    let compare = |lease: i64, result: CompareResult| Compare {
        key: "l/".into(),
        range_end: "l0".into(),
        result: result as i32,
        target: CompareTarget::Lease as i32,
        target_union: Some(TargetUnion::Lease(lease)),
    };
    let txn = |c: Compare| TxnRequest {
        compare: vec![c],
        success: vec![],
        failure: vec![],
    };
    let equal_zero = client
        .txn(txn(compare(0, CompareResult::Equal)))
        .await
        .unwrap()
        .into_inner();
    assert!(equal_zero.succeeded);
    let equal_other = client
        .txn(txn(compare(7, CompareResult::Equal)))
        .await
        .unwrap()
        .into_inner();
    assert!(!equal_other.succeeded);
    let less = client
        .txn(txn(compare(7, CompareResult::Less)))
        .await
        .unwrap()
        .into_inner();
    assert!(less.succeeded);
    assert_eq!(
        less.header.unwrap().revision,
        2,
        "a txn without writes makes no revision"
    );
}

#[tokio::test]
async fn values_at_the_request_size_limit() {
    let limit = 64 * 1024;
    let cluster =
        Cluster::start_with_args(ServerKind::Oxcd, &[format!("--max-request-bytes={limit}")]);
    let mut client = kv(&cluster).await;

    // Just under: the encoded request (key + value + framing) fits.
    let fits = PutRequest {
        key: "big".into(),
        value: vec![b'x'; limit - 64],
        ..Default::default()
    };
    client
        .put(fits)
        .await
        .expect("a request under --max-request-bytes is accepted");

    // Just over the limit but under the gRPC limit: etcd's own error.
    let over = PutRequest {
        key: "big".into(),
        value: vec![b'y'; limit + 1],
        ..Default::default()
    };
    let err = client.put(over).await.expect_err("over the limit");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "etcdserver: request is too large");

    // Over the gRPC receive limit (limit + 512 KiB): the transport refuses it.
    let huge = PutRequest {
        key: "big".into(),
        value: vec![b'z'; limit + 600 * 1024],
        ..Default::default()
    };
    let err = client.put(huge).await.expect_err("over the gRPC limit");
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(
        err.message()
            .starts_with("grpc: received message larger than max"),
        "{}",
        err.message()
    );

    // Nothing of the refused requests landed.
    let stored = client
        .range(range_of("big", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.kvs[0].value.len(), limit - 64);
    assert_eq!(stored.header.unwrap().revision, 2);
}

#[tokio::test]
async fn status_member_list_and_unbuilt_services() {
    let cluster = Cluster::start(ServerKind::Oxcd);
    let url = cluster.member(0).client_url();
    let mut maintenance = MaintenanceClient::connect(url.clone()).await.unwrap();
    let status = maintenance
        .status(StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        status.version.starts_with("3.5."),
        "version {}",
        status.version
    );
    assert_eq!(status.leader, status.header.as_ref().unwrap().member_id);
    assert!(status.raft_index >= 1 && status.raft_applied_index <= status.raft_index);
    assert!(status.db_size > 0);

    let mut cluster_client = ClusterClient::connect(url.clone()).await.unwrap();
    let members = cluster_client
        .member_list(MemberListRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(members.members.len(), 1);
    assert_eq!(members.members[0].client_ur_ls, vec![url.clone()]);

    let mut auth = AuthClient::connect(url.clone()).await.unwrap();
    let status = auth.auth_status(AuthStatusRequest {}).await.unwrap();
    assert!(!status.into_inner().enabled);
    let err = auth
        .auth_enable(AuthEnableRequest {})
        .await
        .expect_err("no root user yet");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(err.message(), "etcdserver: root user does not exist");

    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(
        serving.into_inner().status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}
