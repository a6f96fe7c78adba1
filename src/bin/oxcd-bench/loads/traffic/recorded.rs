//! A KV and Lease client that writes every request, its answer and both times into the
//! client's history log.

use crate::history::convert;
use crate::history::recorder::ClientLog;
use crate::history::{Operation, Request, Response};
use crate::loads::{kv_client, Authed, WithToken};
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use oxcd::proto::etcdserverpb::lease_client::LeaseClient;
use oxcd::proto::etcdserverpb::{CompactionRequest, LeaseGrantRequest, LeaseRevokeRequest};
use tonic::transport::Channel;
use tonic::Status;

pub struct RecordedClient {
    kv: KvClient<Authed>,
    lease: LeaseClient<Authed>,
    log: ClientLog,
}

fn header_revision(h: &Option<oxcd::proto::etcdserverpb::ResponseHeader>) -> i64 {
    h.as_ref().map_or(0, |h| h.revision)
}

impl RecordedClient {
    pub fn new(channel: Channel, log: ClientLog) -> RecordedClient {
        RecordedClient {
            kv: kv_client(channel.clone()),
            lease: LeaseClient::with_interceptor(channel, WithToken),
            log,
        }
    }

    /// Send `request`, record it with its fate, and return the answer.
    pub async fn send(&mut self, request: Request) -> Result<Response, Status> {
        let invoke = self.log.now();
        let result = self.call(&request).await;
        let operation = Operation {
            client: self.log.client(),
            invoke,
            complete: self.log.now(),
            request,
            outcome: result
                .clone()
                .map_err(|s| format!("{:?}: {}", s.code(), s.message())),
        };
        self.log.push(operation);
        result
    }

    async fn call(&mut self, request: &Request) -> Result<Response, Status> {
        match request {
            Request::Range { .. } => {
                let pb = convert::range_request(request)
                    .ok_or_else(|| Status::internal("not a range"))?;
                let r = self.kv.range(pb).await?.into_inner();
                Ok(convert::range_response(
                    header_revision(&r.header),
                    &r.kvs,
                    r.count,
                    r.more,
                ))
            }
            Request::Put { key, value, lease } => {
                let r = self.kv.put(convert::put(key, value, *lease)).await?;
                Ok(Response::Put {
                    revision: header_revision(&r.into_inner().header),
                })
            }
            Request::Delete { key } => {
                let r = self
                    .kv
                    .delete_range(convert::delete(key))
                    .await?
                    .into_inner();
                Ok(Response::Delete {
                    revision: header_revision(&r.header),
                    deleted: r.deleted,
                })
            }
            Request::Txn {
                compares,
                success,
                failure,
            } => {
                let r = self
                    .kv
                    .txn(convert::txn_request(compares, success, failure))
                    .await?;
                Ok(convert::txn_response(&r.into_inner()))
            }
            Request::LeaseGrant { ttl } => {
                let r = self
                    .lease
                    .lease_grant(LeaseGrantRequest { ttl: *ttl, id: 0 })
                    .await?
                    .into_inner();
                Ok(Response::LeaseGrant {
                    revision: header_revision(&r.header),
                    id: r.id,
                })
            }
            Request::LeaseRevoke { id } => {
                let r = self
                    .lease
                    .lease_revoke(LeaseRevokeRequest { id: *id })
                    .await?;
                Ok(Response::LeaseRevoke {
                    revision: header_revision(&r.into_inner().header),
                })
            }
            Request::Compact { revision } => {
                let r = self
                    .kv
                    .compact(CompactionRequest {
                        revision: *revision,
                        physical: false,
                    })
                    .await?;
                Ok(Response::Compact {
                    revision: header_revision(&r.into_inner().header),
                })
            }
        }
    }
}
