//! One fixed sequence of gRPC calls covering every RPC oxcd serves, run
//! against a 3-member cluster; each answer is reduced to its
//! `ResponseHeader` (or error status), with ids and terms replaced by
//! placeholders, so etcd's and oxcd's transcripts can be compared line by
//! line.

use std::collections::HashMap;
use std::time::Duration;

use oxcd::proto::etcdserverpb::auth_client::AuthClient;
use oxcd::proto::etcdserverpb::cluster_client::ClusterClient;
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::lease_client::LeaseClient;
use oxcd::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd::proto::etcdserverpb::request_op::Request as Op;
use oxcd::proto::etcdserverpb::watch_client::WatchClient;
use oxcd::proto::etcdserverpb::watch_request::RequestUnion;
use oxcd::proto::etcdserverpb::*;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use super::server::Cluster;
use super::status::agreed_leader;

/// Turns headers into comparable text: member ids become member names.
struct Normaliser {
    cluster_id: u64,
    names: HashMap<u64, String>,
}

impl Normaliser {
    fn id(&self, id: u64) -> String {
        match id {
            0 => "0".to_string(),
            id if id == self.cluster_id => "<cluster>".to_string(),
            id => self
                .names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| "<unknown id>".to_string()),
        }
    }

    fn header(&self, header: Option<&ResponseHeader>) -> String {
        match header {
            None => "no header".to_string(),
            Some(h) => format!(
                "cluster_id={} member_id={} revision={} raft_term={}",
                self.id(h.cluster_id),
                self.id(h.member_id),
                h.revision,
                if h.raft_term == 0 { "0" } else { "<term>" }
            ),
        }
    }
}

/// The transcript: one line per answer.
pub struct Transcript {
    lines: Vec<String>,
    normaliser: Normaliser,
}

impl Transcript {
    fn push(&mut self, line: String) {
        eprintln!("{line}");
        self.lines.push(line);
    }

    fn answer<T>(
        &mut self,
        step: &str,
        result: Result<T, tonic::Status>,
        header: fn(&T) -> Option<&ResponseHeader>,
    ) -> Option<T> {
        match result {
            Ok(response) => {
                let text = self.normaliser.header(header(&response));
                self.push(format!("{step}: {text}"));
                Some(response)
            }
            Err(status) => {
                self.push(format!(
                    "{step}: error {:?}: {}",
                    status.code(),
                    status.message()
                ));
                None
            }
        }
    }

    fn note(&mut self, step: &str, header: Option<&ResponseHeader>) {
        let text = self.normaliser.header(header);
        self.push(format!("{step}: {text}"));
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

async fn channel(url: String) -> Channel {
    match Channel::from_shared(url) {
        // A call that hangs shows as an error line, not a stuck test.
        Ok(endpoint) => endpoint
            .timeout(Duration::from_secs(10))
            .connect()
            .await
            .expect("connect"),
        Err(e) => panic!("bad url: {e}"),
    }
}

fn range(key: &str) -> RangeRequest {
    RangeRequest {
        key: key.into(),
        ..Default::default()
    }
}

fn put_req(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    }
}

fn op(request: Op) -> RequestOp {
    RequestOp {
        request: Some(request),
    }
}

/// Runs the calls against `cluster` (3 members) and returns the transcript.
pub async fn run(cluster: &Cluster) -> Transcript {
    let leader = agreed_leader(cluster, &[0, 1, 2], Duration::from_secs(20)).await;
    let url = cluster.member(0).client_url();
    let ch = channel(url).await;
    let mut kv = KvClient::new(ch.clone());
    let mut lease = LeaseClient::new(ch.clone());
    let mut clus = ClusterClient::new(ch.clone());
    let mut maint = MaintenanceClient::new(ch.clone());

    let members = clus
        .member_list(MemberListRequest::default())
        .await
        .expect("member list")
        .into_inner();
    let cluster_id = members.header.as_ref().map(|h| h.cluster_id).unwrap_or(0);
    let names: HashMap<u64, String> = members
        .members
        .iter()
        .map(|m| (m.id, format!("<{}>", m.name)))
        .collect();
    let id_of = |i: usize| {
        let name = format!("<{}>", cluster.member(i).name);
        names
            .iter()
            .find(|(_, n)| **n == name)
            .map(|(id, _)| *id)
            .unwrap_or(0)
    };
    let mut t = Transcript {
        lines: Vec::new(),
        normaliser: Normaliser {
            cluster_id,
            names: names.clone(),
        },
    };
    t.note("member list", members.header.as_ref());

    // KV.
    let r = kv.put(put_req("a", "1")).await.map(|r| r.into_inner());
    t.answer("put", r, |r| r.header.as_ref());
    let r = kv
        .put(PutRequest {
            prev_kv: true,
            ..put_req("a", "2")
        })
        .await
        .map(|r| r.into_inner());
    t.answer("put prev_kv", r, |r| r.header.as_ref());
    let r = kv.range(range("a")).await.map(|r| r.into_inner());
    t.answer("range", r, |r| r.header.as_ref());
    let r = kv
        .range(RangeRequest {
            serializable: true,
            count_only: true,
            ..range("a")
        })
        .await
        .map(|r| r.into_inner());
    t.answer("range serializable count_only", r, |r| r.header.as_ref());
    let r = kv.range(range("missing")).await.map(|r| r.into_inner());
    t.answer("range missing key", r, |r| r.header.as_ref());
    let r = kv
        .range(RangeRequest {
            revision: 99,
            ..range("a")
        })
        .await
        .map(|r| r.into_inner());
    t.answer("range future revision", r, |r| r.header.as_ref());
    let r = kv
        .txn(TxnRequest {
            compare: vec![Compare {
                key: "a".into(),
                target: compare::CompareTarget::Value as i32,
                result: compare::CompareResult::Equal as i32,
                target_union: Some(compare::TargetUnion::Value("2".into())),
                ..Default::default()
            }],
            success: vec![
                op(Op::RequestPut(put_req("b", "1"))),
                op(Op::RequestRange(range("a"))),
                op(Op::RequestTxn(TxnRequest {
                    success: vec![op(Op::RequestPut(put_req("c", "1")))],
                    ..Default::default()
                })),
            ],
            failure: vec![],
        })
        .await
        .map(|r| r.into_inner());
    if let Some(txn) = t.answer("txn success", r, |r| r.header.as_ref()) {
        for (i, resp) in txn.responses.iter().enumerate() {
            let header = match &resp.response {
                Some(response_op::Response::ResponsePut(r)) => r.header.as_ref(),
                Some(response_op::Response::ResponseRange(r)) => r.header.as_ref(),
                Some(response_op::Response::ResponseDeleteRange(r)) => r.header.as_ref(),
                Some(response_op::Response::ResponseTxn(r)) => r.header.as_ref(),
                None => None,
            };
            t.note(&format!("txn success op {i}"), header);
        }
    }
    let r = kv
        .txn(TxnRequest {
            compare: vec![Compare {
                key: "a".into(),
                target: compare::CompareTarget::Version as i32,
                result: compare::CompareResult::Greater as i32,
                target_union: Some(compare::TargetUnion::Version(100)),
                ..Default::default()
            }],
            success: vec![],
            failure: vec![op(Op::RequestDeleteRange(DeleteRangeRequest {
                key: "b".into(),
                ..Default::default()
            }))],
        })
        .await
        .map(|r| r.into_inner());
    t.answer("txn failure", r, |r| r.header.as_ref());
    let r = kv
        .txn(TxnRequest {
            success: vec![op(Op::RequestRange(range("a")))],
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner());
    t.answer("txn read-only", r, |r| r.header.as_ref());
    let r = kv
        .delete_range(DeleteRangeRequest {
            key: "c".into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner());
    t.answer("delete", r, |r| r.header.as_ref());
    let r = kv
        .delete_range(DeleteRangeRequest {
            key: "nothing".into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner());
    t.answer("delete nothing", r, |r| r.header.as_ref());
    let r = kv
        .compact(CompactionRequest {
            revision: 3,
            physical: true,
        })
        .await
        .map(|r| r.into_inner());
    t.answer("compact", r, |r| r.header.as_ref());
    let r = kv
        .compact(CompactionRequest {
            revision: 2,
            physical: false,
        })
        .await
        .map(|r| r.into_inner());
    t.answer("compact again below", r, |r| r.header.as_ref());
    let r = kv
        .range(RangeRequest {
            revision: 2,
            ..range("a")
        })
        .await
        .map(|r| r.into_inner());
    t.answer("range compacted revision", r, |r| r.header.as_ref());

    // Lease.
    let r = lease
        .lease_grant(LeaseGrantRequest { ttl: 60, id: 0 })
        .await
        .map(|r| r.into_inner());
    let id = t
        .answer("lease grant", r, |r| r.header.as_ref())
        .map(|r| r.id)
        .unwrap_or(0);
    let r = lease
        .lease_time_to_live(LeaseTimeToLiveRequest { id, keys: true })
        .await
        .map(|r| r.into_inner());
    t.answer("lease time-to-live", r, |r| r.header.as_ref());
    let r = lease
        .lease_time_to_live(LeaseTimeToLiveRequest {
            id: 12345,
            keys: false,
        })
        .await
        .map(|r| r.into_inner());
    t.answer("lease time-to-live missing", r, |r| r.header.as_ref());
    let r = lease
        .lease_leases(LeaseLeasesRequest {})
        .await
        .map(|r| r.into_inner());
    t.answer("lease leases", r, |r| r.header.as_ref());
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.send(LeaseKeepAliveRequest { id }).await;
    match lease.lease_keep_alive(ReceiverStream::new(rx)).await {
        Ok(stream) => {
            let mut stream = stream.into_inner();
            match stream.message().await {
                Ok(Some(r)) => t.note("lease keep-alive", r.header.as_ref()),
                other => t.push(format!("lease keep-alive: {other:?}")),
            }
        }
        Err(status) => t
            .lines
            .push(format!("lease keep-alive: error {:?}", status.code())),
    }
    drop(tx);
    let r = kv
        .put(PutRequest {
            lease: id,
            ..put_req("leased", "v")
        })
        .await
        .map(|r| r.into_inner());
    t.answer("put with lease", r, |r| r.header.as_ref());
    let r = lease
        .lease_revoke(LeaseRevokeRequest { id })
        .await
        .map(|r| r.into_inner());
    t.answer("lease revoke", r, |r| r.header.as_ref());
    let r = lease
        .lease_revoke(LeaseRevokeRequest { id })
        .await
        .map(|r| r.into_inner());
    t.answer("lease revoke again", r, |r| r.header.as_ref());

    // Auth (users and roles; auth stays off).
    auth_steps(&mut t, ch.clone()).await;

    // Watch.
    watch_steps(&mut t, ch.clone()).await;

    // Maintenance.
    let r = maint.status(StatusRequest {}).await.map(|r| r.into_inner());
    t.answer("status", r, |r| r.header.as_ref());
    let r = maint
        .hash_kv(HashKvRequest { revision: 0 })
        .await
        .map(|r| r.into_inner());
    t.answer("hashkv", r, |r| r.header.as_ref());
    let r = maint
        .hash_kv(HashKvRequest { revision: 2 })
        .await
        .map(|r| r.into_inner());
    t.answer("hashkv compacted", r, |r| r.header.as_ref());
    let leader_index = (0..3).find(|&i| id_of(i) == leader).unwrap_or(0);
    let target_index = (leader_index + 1) % 3;
    let mut leader_maint =
        MaintenanceClient::new(channel(cluster.member(leader_index).client_url()).await);
    let r = leader_maint
        .move_leader(MoveLeaderRequest { target_id: 99 })
        .await
        .map(|r| r.into_inner());
    t.answer("move leader to a stranger", r, |r| r.header.as_ref());
    let r = leader_maint
        .move_leader(MoveLeaderRequest {
            target_id: id_of(target_index),
        })
        .await
        .map(|r| r.into_inner());
    t.answer("move leader", r, |r| r.header.as_ref());
    agreed_leader(cluster, &[0, 1, 2], Duration::from_secs(20)).await;

    // Cluster: a learner added, refused promotion, updated, removed. Both
    // refuse membership changes until every voter has been connected for
    // 5 s (etcd's HealthInterval), so wait that out first.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let r = clus
        .member_add(MemberAddRequest {
            peer_ur_ls: vec!["http://127.0.0.1:1".into()],
            is_learner: true,
        })
        .await
        .map(|r| r.into_inner());
    let learner = t
        .answer("member add learner", r, |r| r.header.as_ref())
        .and_then(|r| r.member.map(|m| m.id))
        .unwrap_or(0);
    t.normaliser.names.insert(learner, "<learner>".into());
    let r = clus
        .member_promote(MemberPromoteRequest { id: learner })
        .await
        .map(|r| r.into_inner());
    t.answer("member promote unready learner", r, |r| r.header.as_ref());
    let r = clus
        .member_update(MemberUpdateRequest {
            id: learner,
            peer_ur_ls: vec!["http://127.0.0.1:2".into()],
        })
        .await
        .map(|r| r.into_inner());
    t.answer("member update", r, |r| r.header.as_ref());
    let r = clus
        .member_remove(MemberRemoveRequest { id: learner })
        .await
        .map(|r| r.into_inner());
    t.answer("member remove", r, |r| r.header.as_ref());
    let r = clus
        .member_remove(MemberRemoveRequest { id: learner })
        .await
        .map(|r| r.into_inner());
    t.answer("member remove again", r, |r| r.header.as_ref());
    let r = clus
        .member_list(MemberListRequest { linearizable: true })
        .await
        .map(|r| r.into_inner());
    t.answer("member list linearizable", r, |r| r.header.as_ref());
    t
}

/// User and role management, successes and refusals.
async fn auth_steps(t: &mut Transcript, ch: Channel) {
    let mut auth = AuthClient::new(ch);
    let r = auth
        .user_add(AuthUserAddRequest {
            name: "hdr".into(),
            password: "p".into(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner());
    t.answer("user add", r, |r| r.header.as_ref());
    let r = auth
        .user_get(AuthUserGetRequest {
            name: "nobody".into(),
        })
        .await
        .map(|r| r.into_inner());
    t.answer("user get missing", r, |r| r.header.as_ref());
    let r = auth
        .role_add(AuthRoleAddRequest { name: "hr".into() })
        .await
        .map(|r| r.into_inner());
    t.answer("role add", r, |r| r.header.as_ref());
    let r = auth
        .user_grant_role(AuthUserGrantRoleRequest {
            user: "hdr".into(),
            role: "hr".into(),
        })
        .await
        .map(|r| r.into_inner());
    t.answer("user grant role", r, |r| r.header.as_ref());
    let r = auth
        .user_get(AuthUserGetRequest { name: "hdr".into() })
        .await
        .map(|r| r.into_inner());
    t.answer("user get", r, |r| r.header.as_ref());
    let r = auth
        .role_get(AuthRoleGetRequest { role: "hr".into() })
        .await
        .map(|r| r.into_inner());
    t.answer("role get", r, |r| r.header.as_ref());
    let r = auth
        .role_list(AuthRoleListRequest {})
        .await
        .map(|r| r.into_inner());
    t.answer("role list", r, |r| r.header.as_ref());
    let r = auth
        .role_delete(AuthRoleDeleteRequest { role: "hr".into() })
        .await
        .map(|r| r.into_inner());
    t.answer("role delete", r, |r| r.header.as_ref());
    let r = auth
        .user_delete(AuthUserDeleteRequest { name: "hdr".into() })
        .await
        .map(|r| r.into_inner());
    t.answer("user delete", r, |r| r.header.as_ref());
}

/// One watch stream: create, an event, a progress report, cancel, and a
/// watch below the compacted revision.
async fn watch_steps(t: &mut Transcript, ch: Channel) {
    let mut client = WatchClient::new(ch.clone());
    let (tx, rx) = mpsc::channel(8);
    let send = |request: RequestUnion| WatchRequest {
        request_union: Some(request),
    };
    // etcd sends the stream's response headers with its first message, so
    // the first request goes in before the call is awaited.
    let _ = tx
        .send(send(RequestUnion::CreateRequest(WatchCreateRequest {
            key: "w".into(),
            ..Default::default()
        })))
        .await;
    let mut stream = match client.watch(ReceiverStream::new(rx)).await {
        Ok(s) => s.into_inner(),
        Err(status) => {
            t.push(format!("watch: error {:?}", status.code()));
            return;
        }
    };
    let mut next = async |t: &mut Transcript, step: &str| -> Option<WatchResponse> {
        match tokio::time::timeout(Duration::from_secs(5), stream.message()).await {
            Ok(Ok(Some(r))) => {
                let events = r.events.len();
                t.note(
                    &format!(
                        "{step} (created={} canceled={} events={events} compact_revision={})",
                        r.created, r.canceled, r.compact_revision
                    ),
                    r.header.as_ref(),
                );
                Some(r)
            }
            other => {
                t.push(format!("{step}: {other:?}"));
                None
            }
        }
    };
    let watch_id = next(t, "watch create")
        .await
        .map(|r| r.watch_id)
        .unwrap_or(0);
    let mut kv = KvClient::new(ch);
    let _ = kv.put(put_req("w", "1")).await;
    next(t, "watch event").await;
    let _ = tx
        .send(send(RequestUnion::ProgressRequest(WatchProgressRequest {})))
        .await;
    next(t, "watch progress").await;
    let _ = tx
        .send(send(RequestUnion::CancelRequest(WatchCancelRequest {
            watch_id,
        })))
        .await;
    next(t, "watch cancel").await;
    let _ = tx
        .send(send(RequestUnion::CreateRequest(WatchCreateRequest {
            key: "w".into(),
            start_revision: 2,
            ..Default::default()
        })))
        .await;
    next(t, "watch create below compaction").await;
    next(t, "watch canceled for compaction").await;
}
