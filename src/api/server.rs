//! Builds the gRPC server: every etcd service (served or Unimplemented), the
//! gRPC health service, etcd's message size limits; serves each listen address.

use std::sync::Arc;

use super::listener::Listener;

use actix::Addr;
use tonic::service::{Routes, RoutesBuilder};
use tonic::transport::Server;

use super::auth::AuthService;
use super::cluster::ClusterService;
use super::connections::incoming;
use super::election::ElectionService;
use super::grpc_metrics::GrpcMetricsLayer;
use super::header::HeaderFiller;
use super::http::{self, HttpContext};
use super::kv::KvService;
use super::lease::LeaseService;
use super::lock::LockService;
use super::maintenance::MaintenanceService;
use super::require_leader::RequireLeader;
use super::shutdown::Shutdown;
use super::watch::WatchService;
use crate::actors::frontend::FrontEnd;
use crate::actors::mvcc_store::MvccReader;
use crate::actors::raft_node::RaftNode;
use crate::proto::etcdserverpb::auth_server::AuthServer;
use crate::proto::etcdserverpb::cluster_server::ClusterServer;
use crate::proto::etcdserverpb::kv_server::KvServer;
use crate::proto::etcdserverpb::lease_server::LeaseServer;
use crate::proto::etcdserverpb::maintenance_server::MaintenanceServer;
use crate::proto::etcdserverpb::watch_server::WatchServer;
use crate::proto::v3electionpb::election_server::ElectionServer;
use crate::proto::v3lockpb::lock_server::LockServer;

/// etcd lets a gRPC message exceed --max-request-bytes by this much, so that
/// a slightly larger request reaches the server and gets etcd's own
/// "request is too large" instead of a transport error.
pub const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// What the services need to reach the actors.
#[derive(Clone)]
pub struct ApiContext {
    pub frontend: Addr<FrontEnd>,
    /// Who is asking, for the checks made outside raft.
    pub gate: Arc<crate::actors::auth::gate::AuthGate>,
    pub raft: Addr<RaftNode>,
    pub readers: Addr<MvccReader>,
    pub watch_hub: Addr<crate::actors::watch_hub::WatchHub>,
    pub lessor: Addr<crate::actors::lessor::Lessor>,
    /// Shorter lease TTLs are raised to this many seconds.
    pub min_lease_ttl: i64,
    /// How long each peer has been reachable.
    pub peer_health: crate::actors::peer_net::PeerHealth,
    /// `--strict-reconfig-check`.
    pub strict_reconfig_check: bool,
    /// `--election-timeout`.
    pub election_timeout: std::time::Duration,
    pub header: HeaderFiller,
    /// This member's id. (The member list is not kept here: it changes at
    /// run time; read the applied one with `GetMembers`.)
    pub local_id: u64,
    pub max_request_bytes: usize,
    pub max_txn_ops: usize,
    pub quota_backend_bytes: u64,
    /// Maintenance.Defragment's thread.
    pub defragmenter: actix::Addr<crate::actors::mvcc_store::Defragmenter>,
    /// Where Maintenance.Snapshot builds the file it streams (`member/snap`).
    pub snap_dir: std::path::PathBuf,
    /// Server pings on idle connections (`--grpc-keepalive-interval`, 0 = never).
    pub keepalive_interval: Option<std::time::Duration>,
    /// How long a ping may go unanswered (`--grpc-keepalive-timeout`).
    pub keepalive_timeout: Option<std::time::Duration>,
    /// The last compaction whose records are all deleted (a `physical`
    /// Compaction waits for it).
    pub purged_revision: tokio::sync::watch::Receiver<i64>,
    /// How often clients may ping (`--grpc-keepalive-min-time`).
    pub ping_policy: super::ping_policy::PingPolicy,
    /// Resolves when the server stops: listeners close, streams end.
    pub shutdown: Shutdown,
    /// etcd's request timeout (health checks' reads wait this long).
    pub request_timeout: std::time::Duration,
    /// `--metrics extensive`.
    pub extensive_metrics: bool,
    /// `--max-concurrent-streams` (`None`: no limit).
    pub max_concurrent_streams: Option<u32>,
    /// `--bcrypt-cost`.
    pub bcrypt_cost: u32,
    /// `--enable-grpc-gateway`: etcd's JSON API under `/v3/`.
    pub enable_grpc_gateway: bool,
    /// `--cors`: origins given CORS headers on the HTTP endpoints.
    pub cors: Vec<String>,
    /// `--host-whitelist`: Host names plain-HTTP requests may carry.
    pub host_whitelist: Vec<String>,
}

impl ApiContext {
    fn http(&self) -> HttpContext {
        HttpContext {
            frontend: self.frontend.clone(),
            raft: self.raft.clone(),
            readers: self.readers.clone(),
            board: self.header.board.clone(),
            local_id: self.local_id,
            request_timeout: self.request_timeout,
        }
    }
}

/// Serves `--listen-metrics-urls`: `/metrics` and the health endpoints over
/// HTTP/1.1 (or h2c), until the server stops.
pub async fn serve_metrics(
    listener: Listener,
    tls: Option<Arc<rustls::ServerConfig>>,
    ctx: ApiContext,
) -> Result<(), tonic::transport::Error> {
    let routes = Routes::from(http::with_not_found(http::metrics_routes(ctx.http())));
    Server::builder()
        .accept_http1(true)
        .add_routes(routes)
        .serve_with_incoming_shutdown(
            incoming(listener, tls, Some(ctx.shutdown.clone()), None),
            ctx.shutdown.clone().wait(),
        )
        .await
}

/// Serves the client API on `listener` until the server stops; then stops
/// accepting and returns once the requests in flight are answered. gRPC and
/// etcd's HTTP/1.1 endpoints share the port, as on etcd.
pub async fn serve(
    listener: Listener,
    tls: Option<Arc<rustls::ServerConfig>>,
    ctx: ApiContext,
) -> Result<(), tonic::transport::Error> {
    let max_decode = ctx.max_request_bytes + GRPC_OVERHEAD_BYTES;
    let (_health_reporter, health) = tonic_health::server::health_reporter();

    let kv = KvServer::new(KvService::new(
        ctx.frontend.clone(),
        ctx.header.clone(),
        ctx.max_txn_ops,
        ctx.purged_revision.clone(),
    ))
    .max_decoding_message_size(max_decode)
    .max_encoding_message_size(usize::MAX);
    let maintenance = MaintenanceServer::new(MaintenanceService {
        gate: ctx.gate.clone(),
        frontend: ctx.frontend.clone(),
        raft: ctx.raft.clone(),
        readers: ctx.readers.clone(),
        defragmenter: ctx.defragmenter.clone(),
        snap_dir: ctx.snap_dir.clone(),
        header: ctx.header.clone(),
        quota_backend_bytes: ctx.quota_backend_bytes,
    })
    .max_decoding_message_size(max_decode)
    .max_encoding_message_size(usize::MAX);
    let cluster = ClusterServer::new(ClusterService::new(
        ctx.frontend.clone(),
        ctx.gate.clone(),
        ctx.raft.clone(),
        ctx.readers.clone(),
        ctx.header.clone(),
        ctx.strict_reconfig_check.then(|| ctx.peer_health.clone()),
    ))
    .max_decoding_message_size(max_decode);

    let watch = WatchServer::new(WatchService::new(
        ctx.watch_hub.clone(),
        ctx.gate.clone(),
        ctx.readers.clone(),
        ctx.header.clone(),
        ctx.max_request_bytes,
        ctx.election_timeout,
        ctx.shutdown.clone(),
    ))
    .max_decoding_message_size(max_decode)
    .max_encoding_message_size(usize::MAX);

    let lease = LeaseServer::new(LeaseService::new(
        ctx.frontend.clone(),
        ctx.gate.clone(),
        ctx.lessor.clone(),
        ctx.header.clone(),
        ctx.min_lease_ttl,
        ctx.shutdown.clone(),
    ))
    .max_decoding_message_size(max_decode);

    let require_leader = RequireLeader {
        board: ctx.header.board.clone(),
    };
    let grpc = RoutesBuilder::default()
        .add_service(health)
        .add_service(kv.clone())
        .add_service(maintenance)
        .add_service(cluster)
        .add_service(watch)
        .add_service(lease)
        .add_service(
            AuthServer::new(AuthService::new(
                ctx.frontend.clone(),
                ctx.header.clone(),
                ctx.bcrypt_cost,
            ))
            .max_decoding_message_size(max_decode),
        )
        .add_service(
            LockServer::new(LockService::new(
                ctx.frontend.clone(),
                ctx.watch_hub.clone(),
                ctx.header.clone(),
            ))
            .max_decoding_message_size(max_decode),
        )
        .add_service(
            ElectionServer::new(ElectionService::new(
                ctx.frontend.clone(),
                ctx.watch_hub.clone(),
                ctx.header.clone(),
            ))
            .max_decoding_message_size(max_decode),
        )
        .clone()
        .routes();
    let mut http_routes = http::client_routes(ctx.http());
    if ctx.enable_grpc_gateway {
        http_routes = http_routes.merge(http::gateway::routes(
            grpc.clone(),
            ctx.max_concurrent_streams,
            max_decode,
        ));
    }
    let access = http::access::AccessControl::new(&ctx.cors, &ctx.host_whitelist, tls.is_some());
    let http_routes = http_routes.layer(axum::middleware::from_fn_with_state(
        access,
        http::access::guard,
    ));
    let routes = Routes::from(http::with_not_found(
        grpc.into_axum_router().merge(http_routes),
    ));
    Server::builder()
        .accept_http1(true)
        .layer(GrpcMetricsLayer {
            extensive: ctx.extensive_metrics,
        })
        .layer(super::budget_body::BudgetBodyLayer)
        .layer(tower::util::MapResponseLayer::new(
            super::oversize::like_grpc_go,
        ))
        .layer(tonic::service::InterceptorLayer::new(require_leader))
        // Innermost: KV calls go to their service without the router.
        .layer(super::direct_route::DirectRouteLayer::new(
            <KvServer<KvService> as tonic::server::NamedService>::NAME,
            kv,
        ))
        .max_concurrent_streams(ctx.max_concurrent_streams)
        .http2_keepalive_interval(ctx.keepalive_interval)
        .http2_keepalive_timeout(ctx.keepalive_timeout)
        .add_routes(routes)
        .serve_with_incoming_shutdown(
            incoming(
                listener,
                tls,
                Some(ctx.shutdown.clone()),
                Some(ctx.ping_policy),
            ),
            ctx.shutdown.clone().wait(),
        )
        .await
}
