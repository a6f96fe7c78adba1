//! etcd's Watch service: one bidirectional stream carries many watchers.
//! Requests are handled by a task per stream that talks to the watch hub;
//! every response (control or events) goes through the stream's one bounded
//! channel, so a watcher's `created` always precedes its events and its
//! `canceled` follows them. On the way out, in order, prev_kvs are read by
//! the MVCC reader pool and large responses are fragmented.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::Addr;
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::header::HeaderFiller;
use super::propose::credentials_of;
use super::require_leader::{no_leader, wants_leader, NO_LEADER_TIMEOUTS};
use super::shutdown::{end_when, server_stopped, Shutdown};
use super::watch_fragment::fragments;
use super::ApiError;
use crate::actors::auth::gate::AuthGate;
use crate::actors::auth::{Access, Credentials, KeyAccess};
use crate::actors::mvcc_history::FillPrevKvs;
use crate::actors::mvcc_store::MvccReader;
use crate::actors::watch_hub::{
    outbox, ActivateWatch, CancelWatch, CloseStream, CreateWatch, CurrentRevision, KeyRange,
    Outbox, Outgoing, ProgressAnswer, StreamProgress, WatchHub, WatchSpec, CATCH_UP_INTERVAL,
    ERR_EMPTY_RANGE, STREAM_BUFFER_BYTES, STREAM_CHANNEL_CAPACITY,
};
use crate::actors::{AuthError, ServerError};
use crate::proto::etcdserverpb::watch_request::RequestUnion;
use crate::proto::etcdserverpb::watch_server::Watch;
use crate::proto::etcdserverpb::{ResponseHeader, WatchCreateRequest, WatchRequest, WatchResponse};

/// clientv3.InvalidWatchID: refused creations and progress responses.
const INVALID_WATCH_ID: i64 = -1;

type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send>>;

pub struct WatchService {
    hub: Addr<WatchHub>,
    gate: Arc<AuthGate>,
    readers: Addr<MvccReader>,
    header: HeaderFiller,
    next_stream: Arc<AtomicU64>,
    /// `--max-request-bytes`: the size fragmented responses stay under.
    max_request_bytes: usize,
    /// `--election-timeout`: how often a require-leader stream checks.
    election_timeout: std::time::Duration,
    /// Streams end with "server stopped" when the server stops.
    shutdown: Shutdown,
}

impl WatchService {
    pub fn new(
        hub: Addr<WatchHub>,
        gate: Arc<AuthGate>,
        readers: Addr<MvccReader>,
        header: HeaderFiller,
        max_request_bytes: usize,
        election_timeout: std::time::Duration,
        shutdown: Shutdown,
    ) -> Self {
        WatchService {
            hub,
            gate,
            readers,
            header,
            next_stream: Arc::new(AtomicU64::new(1)),
            max_request_bytes,
            election_timeout,
            shutdown,
        }
    }
}

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let require_leader = wants_leader(request.metadata());
        let credentials = credentials_of(&request);
        let inbound = request.into_inner();
        let (tx, rx) = outbox(STREAM_CHANNEL_CAPACITY, STREAM_BUFFER_BYTES);
        let stream = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let session = Session {
            hub: self.hub.clone(),
            gate: self.gate.clone(),
            credentials,
            stream,
            tx,
        };
        tokio::spawn(session.run(inbound));
        let header = self.header.clone();
        let max_bytes = self.max_request_bytes;
        let readers = self.readers.clone();
        let outbound = rx
            .into_stream()
            .then(move |out: Outgoing| with_prev_kvs(readers.clone(), out))
            .flat_map(move |out: Result<Outgoing, Status>| {
                let parts = match out {
                    Ok(out) if out.fragment => fragments(out.response, max_bytes),
                    Ok(out) => vec![out.response],
                    Err(status) => return futures::stream::iter(vec![Err(status)]),
                };
                let header = header.clone();
                let filled = parts.into_iter().map(move |mut resp| {
                    header.fill(&mut resp.header);
                    Ok(resp)
                });
                futures::stream::iter(filled.collect::<Vec<_>>())
            });
        let outbound = end_when(outbound, self.shutdown.clone().wait(), server_stopped);
        if !require_leader {
            return Ok(Response::new(Box::pin(outbound)));
        }
        // Ends the stream with "no leader" once this member has been without
        // one for NO_LEADER_TIMEOUTS election timeouts (etcd's monitorLeader).
        let board = self.header.board.clone();
        let every = self.election_timeout;
        let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut without = 0;
            while !lost_tx.is_closed() {
                tokio::time::sleep(every).await;
                without = if board.read().leader == 0 {
                    without + 1
                } else {
                    0
                };
                if without >= NO_LEADER_TIMEOUTS {
                    let _ = lost_tx.send(());
                    return;
                }
            }
        });
        let lost = async move {
            if lost_rx.await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        Ok(Response::new(Box::pin(end_when(outbound, lost, no_leader))))
    }
}

/// One Watch stream's request loop.
struct Session {
    hub: Addr<WatchHub>,
    gate: Arc<AuthGate>,
    /// What the client sent when it opened the stream (etcd reads the
    /// token from the stream's context at every create).
    credentials: Credentials,
    stream: u64,
    tx: Outbox,
}

impl Session {
    async fn run(self, mut inbound: Streaming<WatchRequest>) {
        loop {
            // The response side may end first (server stopped, no leader):
            // then stop reading, so the HTTP/2 stream closes.
            let next = tokio::select! {
                next = inbound.message() => next,
                _ = self.tx.closed() => break,
            };
            match next {
                Ok(Some(request)) => {
                    if self.handle(request).await.is_err() {
                        break;
                    }
                }
                // Half-closed: as in etcd, the watches live on until the
                // client stops reading.
                Ok(None) => {
                    self.tx.closed().await;
                    break;
                }
                Err(_) => break,
            }
        }
        self.hub.do_send(CloseStream {
            stream: self.stream,
        });
    }

    /// `Err` when the stream is gone (client or hub).
    async fn handle(&self, request: WatchRequest) -> Result<(), ()> {
        match request.request_union {
            Some(RequestUnion::CreateRequest(create)) => self.create(create).await,
            Some(RequestUnion::CancelRequest(cancel)) => self.cancel(cancel.watch_id).await,
            Some(RequestUnion::ProgressRequest(_)) => self.progress().await,
            // etcd ignores requests it does not know.
            None => Ok(()),
        }
    }

    async fn create(&self, create: WatchCreateRequest) -> Result<(), ()> {
        if let Err(reason) = self.may_watch(&create).await {
            let rev = self.hub.send(CurrentRevision).await.map_err(drop)?;
            return self.refuse(&reason, rev).await;
        }
        let Some(range) = KeyRange::from_request(&create.key, &create.range_end) else {
            let rev = self.hub.send(CurrentRevision).await.map_err(drop)?;
            return self.refuse(ERR_EMPTY_RANGE, rev).await;
        };
        let spec = WatchSpec {
            range,
            filters: create.filters,
            prev_kv: create.prev_kv,
            progress_notify: create.progress_notify,
            fragment: create.fragment,
            tx: self.tx.clone(),
        };
        let created = self
            .hub
            .send(CreateWatch {
                stream: self.stream,
                watch_id: create.watch_id,
                start_revision: create.start_revision,
                spec,
            })
            .await
            .map_err(drop)?;
        let (id, rev) = match created {
            Ok(created) => created,
            Err((reason, rev)) => return self.refuse(reason, rev).await,
        };
        self.send(WatchResponse {
            header: header(rev),
            watch_id: id,
            created: true,
            ..Default::default()
        })
        .await?;
        self.hub.do_send(ActivateWatch {
            stream: self.stream,
            id,
        });
        Ok(())
    }

    /// Read permission on the watched range while auth is on, as etcd
    /// checks it at each create. The refusal's reason is the text of the
    /// gRPC error as grpc-go prints it, as etcd sends it; anything but a
    /// bad token, an old auth revision or no user reads "permission
    /// denied". A from-key watch (`range_end` "\0") needs read on
    /// everything from its key on (etcd 3.4/3.5 check only the key itself
    /// there; oxcd does not leak the rest).
    async fn may_watch(&self, create: &WatchCreateRequest) -> Result<(), String> {
        let key: &[u8] = if create.key.is_empty() {
            &[0]
        } else {
            &create.key
        };
        let checked = if !self.gate.enabled() && self.credentials.token.is_none() {
            Ok(())
        } else {
            self.gate
                .identify(&self.credentials)
                .and_then(|who| self.gate.check_read(who.as_ref(), key, &create.range_end))
        };
        let read = Access {
            keys: vec![KeyAccess {
                key: key.to_vec(),
                range_end: create.range_end.clone(),
                write: false,
            }],
            admin: false,
        };
        let checked = match checked {
            Ok(()) => self.gate.authorize(&self.credentials, read).await,
            Err(err) => Err(err),
        };
        let err = match checked {
            Ok(()) => return Ok(()),
            Err(ServerError::Auth(
                e @ (AuthError::InvalidAuthToken | AuthError::OldRevision | AuthError::UserEmpty),
            )) => ServerError::Auth(e),
            Err(_) => ServerError::Auth(AuthError::PermissionDenied),
        };
        let status = Status::from(ApiError::from(err));
        Err(format!(
            "rpc error: code = {:?} desc = {}",
            status.code(),
            status.message()
        ))
    }

    async fn refuse(&self, reason: &str, rev: i64) -> Result<(), ()> {
        self.send(WatchResponse {
            header: header(rev),
            watch_id: INVALID_WATCH_ID,
            created: true,
            canceled: true,
            cancel_reason: reason.to_owned(),
            ..Default::default()
        })
        .await
    }

    async fn cancel(&self, id: i64) -> Result<(), ()> {
        let cancelled = self
            .hub
            .send(CancelWatch {
                stream: self.stream,
                id,
            })
            .await
            .map_err(drop)?;
        // As etcd: cancelling an unknown id is answered with nothing.
        let Some(rev) = cancelled else {
            return Ok(());
        };
        self.send(WatchResponse {
            header: header(rev),
            watch_id: id,
            canceled: true,
            ..Default::default()
        })
        .await
    }

    /// Answered with the current revision once every watch of the stream is
    /// synced (etcd 3.4 answers at once; waiting means the revision never
    /// runs ahead of events still to come).
    async fn progress(&self) -> Result<(), ()> {
        loop {
            let progress = StreamProgress {
                stream: self.stream,
                tx: self.tx.clone(),
                response: WatchResponse {
                    header: header(0),
                    watch_id: INVALID_WATCH_ID,
                    ..Default::default()
                },
            };
            match self.hub.send(progress).await.map_err(drop)? {
                ProgressAnswer::Queued => return Ok(()),
                ProgressAnswer::Closed => return Err(()),
                ProgressAnswer::NotYet if self.tx.is_closed() => return Err(()),
                ProgressAnswer::NotYet => tokio::time::sleep(CATCH_UP_INTERVAL / 2).await,
            }
        }
    }

    async fn send(&self, response: WatchResponse) -> Result<(), ()> {
        self.tx.send(Outgoing::whole(response)).await
    }
}

/// Reads the events' previous versions when the watcher asked for them. The
/// reader pool gone means the server is stopping: the stream ends.
async fn with_prev_kvs(readers: Addr<MvccReader>, mut out: Outgoing) -> Result<Outgoing, Status> {
    if !out.prev_kv || out.response.events.is_empty() {
        return Ok(out);
    }
    let events = std::mem::take(&mut out.response.events);
    out.response.events = readers
        .send(FillPrevKvs { events })
        .await
        .map_err(|_| Status::unavailable("etcdserver: server stopped"))?;
    Ok(out)
}

fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
}
