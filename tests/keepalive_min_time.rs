//! `--grpc-keepalive-min-time`: a client that pings more often than the
//! server allows is sent away with GOAWAY ENHANCE_YOUR_CALM, as grpc-go
//! (and so etcd) does; one that keeps to the minimum is not. The same
//! scenarios run against etcd 3.4.23 when it is installed.

use crate::common;

use std::time::Duration;

use common::{Cluster, ServerKind};

/// How a connection that pinged `pings` times, `gap` apart, ended.
#[derive(Debug, PartialEq)]
enum Outcome {
    StillOpen,
    TooManyPings,
}

async fn ping(endpoint: &str, open_rpc: bool, pings: u32, gap: Duration) -> Outcome {
    let tcp = tokio::net::TcpStream::connect(endpoint).await.unwrap();
    let (mut client, mut connection) = h2::client::handshake(tcp).await.unwrap();
    let mut ping_pong = connection.ping_pong().unwrap();
    let driver = tokio::spawn(connection);
    // A Watch stream left open: an RPC in progress with nothing to answer.
    let _rpc = if open_rpc {
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("http://{endpoint}/etcdserverpb.Watch/Watch"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let mut client = client.clone().ready().await.unwrap();
        Some(client.send_request(request, false).unwrap())
    } else {
        None
    };
    client = client.ready().await.unwrap();
    for _ in 0..pings {
        tokio::time::sleep(gap).await;
        if ping_pong.ping(h2::Ping::opaque()).await.is_err() {
            break;
        }
    }
    // Give a GOAWAY in flight time to land.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(client);
    if !driver.is_finished() {
        return Outcome::StillOpen;
    }
    match driver.await.unwrap() {
        Err(err) if err.is_go_away() && err.reason() == Some(h2::Reason::ENHANCE_YOUR_CALM) => {
            Outcome::TooManyPings
        }
        other => panic!("connection ended otherwise: {other:?}"),
    }
}

fn scenarios(kind: ServerKind) {
    let server = Cluster::start_with_args(kind, &["--grpc-keepalive-min-time=400ms"]);
    let endpoint = server.endpoint();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let label = kind.label();
    let fast = Duration::from_millis(20);
    let slow = Duration::from_millis(600);
    // Pinging faster than the minimum during an RPC.
    assert_eq!(
        runtime.block_on(ping(&endpoint, true, 8, fast)),
        Outcome::TooManyPings,
        "{label}: fast pings during an RPC"
    );
    // Keeping to the minimum during an RPC.
    assert_eq!(
        runtime.block_on(ping(&endpoint, true, 5, slow)),
        Outcome::StillOpen,
        "{label}: slow pings during an RPC"
    );
    // No RPC open: etcd permits no pings at all without one.
    assert_eq!(
        runtime.block_on(ping(&endpoint, false, 5, slow)),
        Outcome::TooManyPings,
        "{label}: slow pings without an RPC"
    );
    // Two pings never strike out.
    assert_eq!(
        runtime.block_on(ping(&endpoint, false, 2, fast)),
        Outcome::StillOpen,
        "{label}: two pings"
    );
    // The member still serves.
    assert!(server.ctl(&["put", "k", "v"]).success(), "{label}: serves");
}

#[test]
fn pinging_faster_than_the_minimum_gets_too_many_pings() {
    scenarios(ServerKind::Oxcd);
}

#[test]
fn etcd_sends_the_same_clients_away() {
    if !common::require_etcd("etcd_sends_the_same_clients_away") {
        return;
    }
    scenarios(ServerKind::Etcd);
}
