//! Boot: opens storage, restores raft from the WAL, starts the actors on their
//! arbiters and the gRPC front end on its own runtime, and runs until SIGINT
//! or SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use actix::prelude::*;
use prost::Message as _;
use raft::eraftpb::ConfState;
use raft::storage::MemStorage;
use raft::{RawNode, ReadOnlyOption};

use crate::actors::applier::Applier;
use crate::actors::auth::Credentials;
use crate::actors::auth::{provider_by_name, Auth};
use crate::actors::compactor::Compactor;
use crate::actors::frontend::{FrontEnd, Propose, WriteRequest};
use crate::actors::lessor::{Lessor, LessorPeers};
use crate::actors::mvcc_store::{BatchWriter, MvccReader, MvccWriter};
use crate::actors::peer_net::{PeerHealth, PeerNet};
use crate::actors::quota::Quota;
use crate::actors::raft_node::RaftNode;
use crate::actors::status::RaftStatusBoard;
use crate::actors::wal_writer::WalWriter;
use crate::actors::watch_hub::WatchHub;
use crate::api::header::HeaderFiller;
use crate::api::peer::PeerService;
use crate::api::server::{serve, ApiContext};
use crate::config::{ClusterState, Config};
use crate::membership::{Member, Membership};
use crate::proto::etcdserverpb::{self as pb, MemberListResponse, ResponseHeader};
use crate::proto::membershippb::{Attributes, ClusterMemberAttrSetRequest};
use crate::proto::oxcdpeer::peer_client::PeerClient;
use crate::proto::oxcdpeer::peer_server::PeerServer;
use crate::proto::oxcdpeer::ClusterInfoRequest;
use crate::storage::apply::membership::MEMBERSHIP_META_KEY;
use crate::storage::wal::{Wal, WalOptions};
use crate::storage::{raft_log, StorageError, Store, StoreOptions};

/// Threads serving Range reads from LMDB in parallel with the writer.
const READER_THREADS: usize = 2;
/// LMDB map size beyond the backend quota, so the quota check (not LMDB's
/// MDB_MAP_FULL) is what users hit first.
const MAP_HEADROOM_BYTES: u64 = 1 << 30;
/// WAL segments are preallocated with zeros (so a sync never changes the file
/// size); 16 MiB keeps the zero-fill at boot and per roll short while still
/// holding tens of thousands of entries.
const WAL_SEGMENT_BYTES: u64 = 16 * 1024 * 1024;
/// Pause between attempts to publish this member's attributes.
const PUBLISH_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

pub struct DataDirs {
    pub wal: PathBuf,
    pub db: PathBuf,
}

impl DataDirs {
    pub fn of(config: &Config) -> DataDirs {
        let member = config.data_dir.join("member");
        let wal = config.wal_dir.clone().unwrap_or_else(|| member.join("wal"));
        DataDirs {
            wal,
            db: member.join("db"),
        }
    }
}

/// Runs the server until a shutdown signal; blocks the calling thread.
pub fn run(config: Config) -> Result<(), BootError> {
    let dirs = DataDirs::of(&config);
    let map_size = config.quota_backend_bytes + MAP_HEADROOM_BYTES;
    let store = Arc::new(Store::open(
        &dirs.db,
        StoreOptions {
            map_size: map_size as usize,
        },
    )?);
    let membership = load_or_bootstrap_membership(&store, &config)?;
    let auth_provider = provider_by_name(&config.auth_provider).map_err(BootError::Invalid)?;

    let (wal, contents) = Wal::open(
        &dirs.wal,
        WalOptions {
            segment_bytes: WAL_SEGMENT_BYTES,
        },
    )?;
    let ids = |learner: bool| -> Vec<u64> {
        membership
            .members
            .iter()
            .filter(|m| m.is_learner == learner)
            .map(|m| m.id)
            .collect()
    };
    let conf = ConfState {
        voters: ids(false),
        learners: ids(true),
        ..Default::default()
    };
    let storage = raft_log::restore(contents, &conf)?;
    let applied = store.consistent_index();
    reconcile_commit(&storage, applied);
    let raw = new_raw_node(&config, membership.local_id, storage, applied)?;
    tracing::info!(
        member = format!("{:x}", membership.local_id),
        cluster = format!("{:x}", membership.cluster_id),
        applied,
        revision = store.current_revision(),
        "storage restored"
    );

    let listeners = bind_client_urls(&config)?;
    let peer_listeners = bind_peer_urls(&config)?;
    let system = System::new();
    let api_ctx = system.block_on(async {
        start_actors(&config, store, membership, raw, wal, auth_provider, applied)
    });
    system.block_on(async {
        publish_member_attributes(&api_ctx.frontend, &config, api_ctx.membership.local_id)
    });
    let peer_service = (
        api_ctx.raft.clone(),
        api_ctx.lessor.clone(),
        api_ctx.readers.clone(),
        api_ctx.header.clone(),
    );
    system.block_on(async move { serve_clients(listeners, api_ctx) })?;
    system.block_on(async move { serve_peers(peer_listeners, peer_service) })?;
    system.block_on(async {
        wait_for_shutdown_signal().await;
        tracing::info!("shutting down");
        System::current().stop();
    });
    system.run()?;
    Ok(())
}

/// LMDB may hold entries applied after the last persisted hard state (the
/// commit index reaches the WAL one Ready later): they were committed, so the
/// restored commit index must cover them or raft rejects the applied index.
fn reconcile_commit(storage: &MemStorage, applied: u64) {
    use raft::Storage as _;
    let last = storage.last_index().unwrap_or(0);
    let mut core = storage.wl();
    let hard_state = core.mut_hard_state();
    if applied > hard_state.commit && applied <= last {
        hard_state.commit = applied;
    }
}

fn new_raw_node(
    config: &Config,
    id: u64,
    storage: MemStorage,
    applied: u64,
) -> Result<RawNode<MemStorage>, BootError> {
    let heartbeat = config.heartbeat_interval.as_millis().max(1) as u64;
    let election_tick = (config.election_timeout.as_millis() as u64 / heartbeat).max(2) as usize;
    let raft_config = raft::Config {
        id,
        election_tick,
        heartbeat_tick: 1,
        applied,
        max_size_per_msg: 1024 * 1024,
        max_inflight_msgs: 512,
        check_quorum: true,
        pre_vote: config.pre_vote,
        read_only_option: ReadOnlyOption::Safe,
        ..Default::default()
    };
    raft_config.validate()?;
    Ok(RawNode::new(
        &raft_config,
        storage,
        &crate::logging::raft_logger(),
    )?)
}

fn start_actors(
    config: &Config,
    store: Arc<Store>,
    membership: Membership,
    raw: RawNode<MemStorage>,
    wal: Wal,
    auth_provider: Box<dyn crate::actors::auth::AuthProvider>,
    applied: u64,
) -> ApiContext {
    let board = Arc::new(RaftStatusBoard::default());
    board.publish_applied(applied);

    let writer_store = store.clone();
    let sync_every_entries = config.snapshot_count;
    let batch_writer = BatchWriter::new(writer_store, sync_every_entries);
    let thread_writer = batch_writer.clone();
    let mvcc = SyncArbiter::start(1, move || MvccWriter::new(thread_writer.clone()));
    let reader_store = store.clone();
    let readers = SyncArbiter::start(READER_THREADS, move || {
        MvccReader::new(reader_store.clone())
    });
    let wal_slot = std::sync::Mutex::new(Some(wal));
    let wal_writer = SyncArbiter::start(1, move || {
        // SyncArbiter asks its factory once per thread; there is one thread.
        let wal = wal_slot.lock().ok().and_then(|mut slot| slot.take());
        WalWriter::new(wal.unwrap_or_else(unreachable_wal))
    });
    let quota = Quota::new(config.max_request_bytes as usize).start();
    let auth = (!auth_provider.admits_everything()).then(|| Auth::new(auth_provider).start());

    // The applier and the raft node name each other: make the applier's
    // address first, run it once the raft node exists.
    let applier_ctx = Context::<Applier>::new();
    let applier_addr = applier_ctx.address();
    // The raft node shares the system arbiter with the front end and the
    // applier: on 2 cores one fewer thread hop per request measured steadier
    // and faster single-client writes (see docs/benchmarks.md).
    let raft_arbiter = Arbiter::current();
    let tick = config.heartbeat_interval;
    let raft_board = board.clone();
    let peers: Vec<(u64, Vec<String>)> = membership
        .members
        .iter()
        .filter(|m| m.id != membership.local_id)
        .map(|m| (m.id, m.peer_urls.clone()))
        .collect();
    // Always there: a one-member cluster may grow.
    let peer_health = PeerHealth::default();
    let peer_net = Some(
        PeerNet::new(
            membership.cluster_id,
            membership.local_id,
            peers,
            peer_health.clone(),
        )
        .start(),
    );
    let raft = RaftNode::start_in_arbiter(&raft_arbiter, move |_| {
        RaftNode::new(
            raw,
            wal_writer,
            applier_addr,
            peer_net,
            raft_board,
            tick,
            applied,
        )
    });
    let frontend = FrontEnd::new(
        raft.clone(),
        quota,
        auth,
        readers.clone(),
        membership.local_id,
        config.request_timeout(),
    )
    .start();
    let watch_hub = WatchHub::new(store.current_revision(), readers.clone())
        .with_progress_interval(config.watch_progress_notify_interval)
        .start();
    let lessor_peers = LessorPeers {
        board: board.clone(),
        local_id: membership.local_id,
        peer_urls: membership
            .members
            .iter()
            .map(|m| (m.id, m.peer_urls.clone()))
            .collect(),
    };
    let lessor = Lessor::new(
        store.clone(),
        frontend.clone(),
        config.lease_checkpoint_interval,
        lessor_peers,
    )
    .start();
    applier_ctx.run(Applier::new(
        batch_writer,
        mvcc,
        frontend.clone(),
        raft.clone(),
        watch_hub.clone(),
        lessor.clone(),
    ));
    if let Some(policy) = config.auto_compaction {
        Compactor::new(policy, frontend.clone(), readers.clone()).start();
    }

    let header = HeaderFiller {
        cluster_id: membership.cluster_id,
        member_id: membership.local_id,
        board,
    };
    ApiContext {
        frontend,
        raft,
        readers,
        watch_hub,
        lessor,
        min_lease_ttl: config.min_lease_ttl(),
        peer_health,
        strict_reconfig_check: config.strict_reconfig_check,
        election_timeout: config.election_timeout,
        header,
        membership,
        max_request_bytes: config.max_request_bytes as usize,
        max_txn_ops: config.max_txn_ops as usize,
        quota_backend_bytes: config.quota_backend_bytes,
        keepalive_interval: non_zero(config.grpc_keepalive.interval),
        keepalive_timeout: non_zero(config.grpc_keepalive.timeout),
    }
}

fn non_zero(duration: std::time::Duration) -> Option<std::time::Duration> {
    (!duration.is_zero()).then_some(duration)
}

fn unreachable_wal() -> Wal {
    tracing::error!("WAL writer restarted without a WAL; exiting");
    std::process::exit(1)
}

/// Binds every client URL before anything starts, so a busy port fails the
/// boot cleanly.
fn bind_client_urls(config: &Config) -> Result<Vec<std::net::TcpListener>, BootError> {
    let mut listeners = Vec::new();
    for endpoint in &config.listen_client_urls {
        let addr = endpoint.addr;
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| BootError::Listen { addr, source })?;
        listener.set_nonblocking(true)?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Proposes this member's name and client URLs through raft (retrying until
/// a leader takes it), so every member's MemberList shows them, as etcd's
/// publish does on every start.
fn publish_member_attributes(frontend: &Addr<FrontEnd>, config: &Config, member_id: u64) {
    let attrs = ClusterMemberAttrSetRequest {
        member_id,
        member_attributes: Some(Attributes {
            name: config.name.clone(),
            client_urls: config.advertise_client_urls.clone(),
        }),
    };
    let frontend = frontend.clone();
    actix_rt::spawn(async move {
        loop {
            let propose = Propose {
                body: WriteRequest::MemberAttrs(attrs.clone()),
                credentials: Credentials::default(),
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
    });
}

/// Binds every peer URL before anything starts, as for the client URLs.
fn bind_peer_urls(config: &Config) -> Result<Vec<std::net::TcpListener>, BootError> {
    let mut listeners = Vec::new();
    for endpoint in &config.listen_peer_urls {
        let addr = endpoint.addr;
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| BootError::Listen { addr, source })?;
        listener.set_nonblocking(true)?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Serves the peer service (raft messages from the other members).
fn serve_peers(
    listeners: Vec<std::net::TcpListener>,
    (raft, lessor, readers, header): (Addr<RaftNode>, Addr<Lessor>, Addr<MvccReader>, HeaderFiller),
) -> Result<(), BootError> {
    for listener in listeners {
        let addr = listener.local_addr()?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let service = PeerService::new(
            raft.clone(),
            lessor.clone(),
            readers.clone(),
            header.clone(),
        );
        tracing::info!(%addr, "listening for peers");
        actix_rt::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
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

/// Serves the client listeners on the actor system's own thread: a request
/// then reaches the front end, raft node and applier without crossing
/// threads (measured on 2 cores: lower single-client latency, and no less
/// throughput at 1000 clients; see docs/benchmarks.md).
fn serve_clients(listeners: Vec<std::net::TcpListener>, ctx: ApiContext) -> Result<(), BootError> {
    for listener in listeners {
        let addr = listener.local_addr()?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let ctx = ctx.clone();
        tracing::info!(%addr, "ready to serve client requests");
        actix_rt::spawn(async move {
            if let Err(err) = serve(listener, ctx, std::future::pending()).await {
                tracing::error!("gRPC server on {addr} failed: {err}");
                std::process::exit(1);
            }
        });
    }
    Ok(())
}

async fn wait_for_shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The first boot derives membership from the flags and stores it; later
/// boots use the stored one (as etcd ignores --initial-cluster on restart).
fn load_or_bootstrap_membership(store: &Store, config: &Config) -> Result<Membership, BootError> {
    if let Some(bytes) = store.get_meta(MEMBERSHIP_META_KEY)? {
        let stored = MemberListResponse::decode(bytes.as_slice())
            .map_err(|e| BootError::Storage(StorageError::Corrupt(format!("membership: {e}"))))?;
        let header = stored.header.unwrap_or_default();
        let members = stored
            .members
            .into_iter()
            .map(|m| Member {
                id: m.id,
                name: m.name,
                peer_urls: m.peer_ur_ls,
                client_urls: m.client_ur_ls,
                is_learner: m.is_learner,
            })
            .collect();
        return Ok(Membership {
            cluster_id: header.cluster_id,
            local_id: header.member_id,
            members,
        });
    }
    if config.initial_cluster_state == ClusterState::Existing {
        let membership = join_existing_cluster(config)?;
        store_membership(store, &membership)?;
        return Ok(membership);
    }
    let membership = Membership::bootstrap(
        &config.initial_cluster,
        &config.name,
        &config.advertise_client_urls,
        &config.initial_cluster_token,
    );
    if membership.local_id == 0 {
        return Err(BootError::Invalid(format!(
            "--initial-cluster has no member named {:?}",
            config.name
        )));
    }
    store_membership(store, &membership)?;
    Ok(membership)
}

fn store_membership(store: &Store, membership: &Membership) -> Result<(), BootError> {
    let record = MemberListResponse {
        header: Some(ResponseHeader {
            cluster_id: membership.cluster_id,
            member_id: membership.local_id,
            ..Default::default()
        }),
        members: membership
            .members
            .iter()
            .map(|m| pb::Member {
                id: m.id,
                name: m.name.clone(),
                peer_ur_ls: m.peer_urls.clone(),
                client_ur_ls: m.client_urls.clone(),
                is_learner: m.is_learner,
            })
            .collect(),
    };
    let mut batch = store.begin_batch()?;
    batch.put_meta(MEMBERSHIP_META_KEY, &record.encode_to_vec())?;
    batch.commit(store.consistent_index())?;
    store.sync()?;
    Ok(())
}

/// `--initial-cluster-state=existing`: ask the other members listed in
/// `--initial-cluster` for the cluster's id and member list, and find this
/// member in it (it must have been added with MemberAdd first).
fn join_existing_cluster(config: &Config) -> Result<Membership, BootError> {
    let own_urls = &config.initial_advertise_peer_urls;
    let others: Vec<&String> = config
        .initial_cluster
        .iter()
        .map(|(_, url)| url)
        .filter(|url| !own_urls.contains(url))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut last_error = String::from("no other member in --initial-cluster");
    for url in others {
        let info = runtime.block_on(async {
            let channel = tonic::transport::Endpoint::from_shared(url.clone())
                .map_err(|e| e.to_string())?
                .connect_timeout(std::time::Duration::from_secs(2))
                .connect()
                .await
                .map_err(|e| e.to_string())?;
            PeerClient::new(channel)
                .cluster_info(ClusterInfoRequest {})
                .await
                .map(|r| r.into_inner())
                .map_err(|e| e.to_string())
        });
        let info = match info {
            Ok(info) => info,
            Err(err) => {
                last_error = format!("{url}: {err}");
                continue;
            }
        };
        let cluster_id = info.header.map(|h| h.cluster_id).unwrap_or_default();
        let mut members: Vec<Member> = info
            .members
            .into_iter()
            .map(|m| Member {
                id: m.id,
                name: m.name,
                peer_urls: m.peer_ur_ls,
                client_urls: m.client_ur_ls,
                is_learner: m.is_learner,
            })
            .collect();
        let Some(me) = members
            .iter_mut()
            .find(|m| m.peer_urls.iter().any(|u| own_urls.contains(u)))
        else {
            return Err(BootError::Invalid(format!(
                "this member ({}) is not in cluster {cluster_id:x}: add it with `etcdctl member add` first",
                own_urls.join(",")
            )));
        };
        me.name = config.name.clone();
        me.client_urls = config.advertise_client_urls.clone();
        let local_id = me.id;
        tracing::info!(
            cluster = format!("{cluster_id:x}"),
            member = format!("{local_id:x}"),
            "joining an existing cluster"
        );
        return Ok(Membership {
            cluster_id,
            local_id,
            members,
        });
    }
    Err(BootError::Invalid(format!(
        "--initial-cluster-state=existing: could not reach any other member ({last_error})"
    )))
}
