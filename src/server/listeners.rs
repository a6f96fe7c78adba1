//! The listeners: client and peer URLs bound before anything starts (so a
//! busy port fails the boot cleanly) and served on the actor system's
//! thread; and this member's publication of its name and client URLs.

use actix::prelude::*;

use super::BootError;
use crate::actors::auth::Credentials;
use crate::actors::frontend::{FrontEnd, Propose, WriteRequest};
use crate::api::listener::BoundListener;
use crate::api::peer::PeerService;
use crate::api::server::{serve, ApiContext};
use crate::config::{Config, Endpoint};
use crate::proto::membershippb::{Attributes, ClusterMemberAttrSetRequest};
use crate::proto::oxcdpeer::peer_server::PeerServer;

type TlsConfig = std::sync::Arc<rustls::ServerConfig>;

/// Pause between attempts to publish this member's attributes.
const PUBLISH_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// Binds every listen URL before anything starts, so a busy port fails the
/// boot cleanly (client and peer URLs alike).
pub(super) fn bind_urls(endpoints: &[Endpoint]) -> Result<Vec<BoundListener>, BootError> {
    endpoints
        .iter()
        .map(|endpoint| {
            BoundListener::bind(&endpoint.addr).map_err(|source| BootError::Listen {
                addr: endpoint.addr.to_string(),
                source,
            })
        })
        .collect()
}

/// Proposes this member's name and client URLs through raft (retrying until
/// a leader takes it), so every member's MemberList shows them, as etcd's
/// publish does on every start.
pub(super) fn publish_member_attributes(
    frontend: &Addr<FrontEnd>,
    config: &Config,
    member_id: u64,
) -> impl std::future::Future<Output = ()> + 'static {
    let attrs = ClusterMemberAttrSetRequest {
        member_id,
        member_attributes: Some(Attributes {
            name: config.name.clone(),
            client_urls: config.advertise_client_urls.clone(),
        }),
    };
    let frontend = frontend.clone();
    async move {
        loop {
            let propose = Propose {
                body: WriteRequest::MemberAttrs(attrs.clone()),
                credentials: Credentials::internal(),
            };
            match frontend.send(propose).await {
                Ok(Ok(_)) => {
                    tracing::info!("published this member's name and client URLs");
                    return;
                }
                Ok(Err(err)) => tracing::debug!("publishing member attributes: {err}"),
                Err(_) => return,
            }
            tokio::time::sleep(PUBLISH_RETRY).await;
        }
    }
}

/// Serves the peer service (raft messages from the other members).
pub(super) fn serve_peers(
    listeners: Vec<(BoundListener, Option<TlsConfig>)>,
    peer_service: PeerService,
    check_client_san: bool,
) -> Result<(), BootError> {
    for (listener, tls) in listeners {
        let addr = listener.describe();
        let listener = listener.into_tokio()?;
        let service = peer_service.clone();
        tracing::info!(%addr, "listening for peers");
        actix_rt::spawn(async move {
            // Nagle off, as on the client side: raft acks are small and
            // latency-bound (incoming sets it).
            let incoming =
                crate::api::connections::incoming_checked(listener, tls, None, check_client_san);
            let served = tonic::transport::Server::builder()
                .add_service(PeerServer::new(service).max_decoding_message_size(64 << 20))
                .serve_with_incoming(incoming)
                .await;
            if let Err(err) = served {
                tracing::error!("peer server on {addr} failed: {err}");
                std::process::exit(1);
            }
        });
    }
    Ok(())
}

/// Serves `--listen-metrics-urls` from the start (etcd's answer there says
/// whether the member is healthy yet).
pub(super) fn serve_metrics(
    listeners: Vec<(BoundListener, Option<TlsConfig>)>,
    ctx: ApiContext,
) -> Result<(), BootError> {
    for (listener, tls) in listeners {
        let addr = listener.describe();
        let listener = listener.into_tokio()?;
        let ctx = ctx.clone();
        tracing::info!(%addr, "serving /metrics and /health");
        actix_rt::spawn(async move {
            if let Err(err) = crate::api::server::serve_metrics(listener, tls, ctx).await {
                tracing::error!("metrics server on {addr} failed: {err}");
                std::process::exit(1);
            }
        });
    }
    Ok(())
}

/// Serves the client listeners on the actor system's own thread: a request
/// then reaches the front end, raft node and applier without crossing
/// threads (measured on 2 cores: lower single-client latency, and no less
/// throughput at 1000 clients; see docs/benchmarks.md).
///
/// As etcd does, requests are served only once `published` (this member's
/// attributes went through raft): until then the member may lack a leader
/// or the data it missed, and its client URLs are not in the member list.
/// Connections made meanwhile wait in the listen backlog.
///
/// The returned task ends once the server stops and every listener has
/// answered the requests it had in flight.
pub(super) fn serve_clients(
    listeners: Vec<(BoundListener, Option<TlsConfig>)>,
    ctx: ApiContext,
    published: impl std::future::Future<Output = ()> + 'static,
) -> Result<tokio::task::JoinHandle<()>, BootError> {
    let mut bound = Vec::new();
    for (listener, tls) in listeners {
        bound.push((listener.describe(), listener.into_tokio()?, tls));
    }
    Ok(actix_rt::spawn(async move {
        tokio::select! {
            _ = published => {}
            _ = ctx.shutdown.clone().wait() => return,
        }
        let mut servers = Vec::new();
        for (addr, listener, tls) in bound {
            let ctx = ctx.clone();
            tracing::info!(%addr, "ready to serve client requests");
            servers.push(actix_rt::spawn(async move {
                if let Err(err) = serve(listener, tls, ctx).await {
                    tracing::error!("gRPC server on {addr} failed: {err}");
                    std::process::exit(1);
                }
            }));
        }
        futures::future::join_all(servers).await;
    }))
}
