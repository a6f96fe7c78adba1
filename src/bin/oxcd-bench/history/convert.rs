//! Between the history's requests and responses and etcd's protobuf messages: a load builds
//! a [`Request`], sends its protobuf form, and records what came back in history form.

use super::{Compare, CompareTarget, Event, EventKind, Kv, Request, Response};
use oxcd::proto::etcdserverpb::compare::{CompareResult, CompareTarget as PbTarget, TargetUnion};
use oxcd::proto::etcdserverpb::request_op::Request as PbOp;
use oxcd::proto::etcdserverpb::response_op::Response as PbOpResponse;
use oxcd::proto::etcdserverpb::{
    Compare as PbCompare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, ResponseOp,
    TxnRequest, TxnResponse,
};
use oxcd::proto::mvccpb::{event::EventType, Event as PbEvent, KeyValue};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn kv(kv: &KeyValue) -> Kv {
    Kv {
        key: text(&kv.key),
        value: text(&kv.value),
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        lease: kv.lease,
    }
}

pub fn event(e: &PbEvent) -> Event {
    Event {
        kind: if e.r#type == EventType::Delete as i32 {
            EventKind::Delete
        } else {
            EventKind::Put
        },
        kv: e.kv.as_ref().map(kv).unwrap_or_default(),
        prev_kv: e.prev_kv.as_ref().map(kv),
    }
}

pub fn range_request(r: &Request) -> Option<RangeRequest> {
    let Request::Range {
        key,
        end,
        limit,
        revision,
        serializable,
        keys_only,
        count_only,
    } = r
    else {
        return None;
    };
    Some(RangeRequest {
        key: key.clone().into_bytes(),
        range_end: end.clone().into_bytes(),
        limit: *limit,
        revision: *revision,
        serializable: *serializable,
        keys_only: *keys_only,
        count_only: *count_only,
        ..Default::default()
    })
}

pub fn range_response(header_revision: i64, kvs: &[KeyValue], count: i64, more: bool) -> Response {
    Response::Range {
        revision: header_revision,
        kvs: kvs.iter().map(kv).collect(),
        count,
        more,
    }
}

fn put_request(key: &str, value: &str, lease: i64) -> PutRequest {
    PutRequest {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
        lease,
        ..Default::default()
    }
}

fn delete_request(key: &str) -> DeleteRangeRequest {
    DeleteRangeRequest {
        key: key.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// The protobuf form of a request that can go in a txn branch (range, put, delete).
fn request_op(r: &Request) -> Option<RequestOp> {
    let request = match r {
        Request::Range { .. } => PbOp::RequestRange(range_request(r)?),
        Request::Put { key, value, lease } => PbOp::RequestPut(put_request(key, value, *lease)),
        Request::Delete { key } => PbOp::RequestDeleteRange(delete_request(key)),
        _ => return None,
    };
    Some(RequestOp {
        request: Some(request),
    })
}

fn compare(c: &Compare) -> PbCompare {
    let (target, union) = match &c.target {
        CompareTarget::ModRevision(n) => (PbTarget::Mod, TargetUnion::ModRevision(*n)),
        CompareTarget::CreateRevision(n) => (PbTarget::Create, TargetUnion::CreateRevision(*n)),
        CompareTarget::Version(n) => (PbTarget::Version, TargetUnion::Version(*n)),
        CompareTarget::Value(v) => (PbTarget::Value, TargetUnion::Value(v.clone().into_bytes())),
    };
    PbCompare {
        result: CompareResult::Equal as i32,
        target: target as i32,
        key: c.key.clone().into_bytes(),
        target_union: Some(union),
        ..Default::default()
    }
}

pub fn txn_request(compares: &[Compare], success: &[Request], failure: &[Request]) -> TxnRequest {
    TxnRequest {
        compare: compares.iter().map(compare).collect(),
        success: success.iter().filter_map(request_op).collect(),
        failure: failure.iter().filter_map(request_op).collect(),
    }
}

pub fn put(key: &str, value: &str, lease: i64) -> PutRequest {
    put_request(key, value, lease)
}

pub fn delete(key: &str) -> DeleteRangeRequest {
    delete_request(key)
}

fn op_response(r: &ResponseOp, header_revision: i64) -> Option<Response> {
    Some(match r.response.as_ref()? {
        PbOpResponse::ResponseRange(r) => range_response(header_revision, &r.kvs, r.count, r.more),
        PbOpResponse::ResponsePut(_) => Response::Put {
            revision: header_revision,
        },
        PbOpResponse::ResponseDeleteRange(d) => Response::Delete {
            revision: header_revision,
            deleted: d.deleted,
        },
        PbOpResponse::ResponseTxn(t) => txn_response(t),
    })
}

pub fn txn_response(t: &TxnResponse) -> Response {
    let revision = t.header.as_ref().map_or(0, |h| h.revision);
    Response::Txn {
        revision,
        succeeded: t.succeeded,
        results: t
            .responses
            .iter()
            .filter_map(|r| op_response(r, revision))
            .collect(),
    }
}
