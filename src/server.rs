//! Boot: locks the data dir, opens storage, restores raft from the WAL,
//! starts the actors and the gRPC front end on the actor system, and runs
//! until SIGINT or SIGTERM (see `shutdown`).

mod corrupt_check;
mod corrupt_monitor;
mod discovery_srv;
mod dns_srv;
mod etcd_data_dir;
mod force_new_cluster;
mod listeners;
mod membership;
mod shutdown;
mod tls;

use crate::actors::range_budget::RangeBudget;
use listeners::{bind_urls, publish_member_attributes, serve_clients, serve_metrics, serve_peers};
pub(crate) use membership::store_restored_membership;
use membership::{adopt_snapshot_membership, load_or_bootstrap_membership};
use shutdown::{stop_on_signal, StopSignals, Stopping};

use std::path::PathBuf;
use std::sync::Arc;

use actix::prelude::*;
use raft::storage::MemStorage;
use raft::{RawNode, ReadOnlyOption};

use crate::actors::applier::{Applier, ApplyListeners};
use crate::actors::auth::gate::AuthGate;
use crate::actors::auth::jwt::JwtTokens;
use crate::actors::auth::registry::ProviderRegistry;
use crate::actors::auth::tokens::Tokens;
use crate::actors::auth::Auth;
use crate::actors::compactor::Compactor;
use crate::actors::frontend::FrontEnd;
use crate::actors::lessor::{ForwardTimes, Lessor, LessorPeers};
use crate::actors::mvcc_store::{BatchWriter, Defragmenter, MvccReader, MvccWriter, Purge, Purger};
use crate::actors::peer_net::{PeerHealth, PeerNet};
use crate::actors::protocol::Refused;
use crate::actors::quota::Quota;
use crate::actors::raft_node::{RaftNode, Snapshots};
use crate::actors::snapshot_receiver::SnapshotReceiver;
use crate::actors::status::RaftStatusBoard;
use crate::actors::wal_writer::WalHandle;
use crate::actors::watch_hub::WatchHub;
use crate::api::header::HeaderFiller;
use crate::api::peer::PeerService;
use crate::api::server::ApiContext;
use crate::api::shutdown::{shutdown_channel, Shutdown};
use crate::config::Config;
use crate::membership::Membership;
use crate::storage::raft_store::RaftStore;
use crate::storage::snapshot::{conf_state_of, SnapshotDir};
use crate::storage::wal::{Wal, WalContents, WalOptions};
use crate::storage::{raft_log, DirLock, StorageError, Store, StoreOptions};

/// Threads serving Range reads from LMDB in parallel with the writer.
const READER_THREADS: usize = 2;
/// Threads of a custom auth provider (a slow login leaves one free).
const AUTH_PROVIDER_THREADS: usize = 2;
/// LMDB map size beyond twice the backend quota, so the quota (not LMDB's
/// MDB_MAP_FULL) is what users hit: writes admitted before a NOSPACE alarm
/// is applied (up to the 5000-entry apply gap of large requests) still fit.
/// The map is address space only: the file is sparse, pages count on disk
/// once written.
const MAP_HEADROOM_BYTES: u64 = 8 << 30;
/// WAL segments are preallocated with zeros (so a sync never changes the file
/// size); 16 MiB keeps the zero-fill at boot and per roll short while still
/// holding tens of thousands of entries.
const WAL_SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

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
        addr: String,
        source: std::io::Error,
    },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The data or WAL dir is held by another process.
    #[error("cannot start: {0}")]
    DirLocked(StorageError),
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
}

pub struct DataDirs {
    pub wal: PathBuf,
    pub db: PathBuf,
    pub snap: PathBuf,
}

impl DataDirs {
    pub fn of(config: &Config) -> DataDirs {
        let member = config.data_dir.join("member");
        let wal = config.wal_dir.clone().unwrap_or_else(|| member.join("wal"));
        DataDirs {
            wal,
            db: member.join("db"),
            snap: member.join("snap"),
        }
    }
}

/// Runs the server until a shutdown signal; blocks the calling thread.
/// Runs the server with oxcd's own auth providers.
pub fn run(config: Config) -> Result<(), BootError> {
    run_with(config, &ProviderRegistry::with_builtins())
}

/// Runs the server; `--auth-provider` names one of `providers`.
pub fn run_with(config: Config, providers: &ProviderRegistry) -> Result<(), BootError> {
    let dirs = DataDirs::of(&config);
    if config.unsafe_no_fsync {
        crate::storage::fsync::disable();
        tracing::warn!(
            "--unsafe-no-fsync: fsync is disabled; a machine crash will lose acknowledged writes"
        );
    }
    // Held until the process ends, however it ends: the kernel releases them
    // then, after every thread that might still write has stopped.
    std::mem::forget(lock_dirs(&config)?);
    let client_tls = tls::client_tls(&config)?;
    let peer_tls = tls::peer_tls(&config)?;
    etcd_data_dir::adopt_restored_etcd_dir(&dirs, &config)?;
    let snapshots = SnapshotDir::new(dirs.snap.clone()).keeping_all(config.max_snapshots == 0);
    // A snapshot from the leader, staged before a restart, replaces LMDB's
    // file before it opens.
    let pending_install = snapshots.take_pending_install(&dirs.db)?;
    crate::storage::mvcc::recover_interrupted(&dirs.db)?;
    let map_size = map_size_for(config.quota_backend_bytes);
    let store = Arc::new(Store::open(
        &dirs.db,
        StoreOptions {
            map_size: map_size as usize,
        },
    )?);
    if let Some(pending) = &pending_install {
        adopt_snapshot_membership(&store, pending)?;
    }
    let membership = load_or_bootstrap_membership(&store, &config)?;
    let auth_provider = providers
        .build(&config.auth_provider, &config.auth_provider_settings)
        .map_err(BootError::Invalid)?;
    if auth_provider.is_some() && store.auth_enabled() {
        return Err(BootError::Invalid(format!(
            "etcd's own auth is enabled in {}; disable it (etcdctl auth disable) before choosing --auth-provider {:?}",
            dirs.db.display(),
            config.auth_provider
        )));
    }

    let tokens = Arc::new(match &config.auth_token {
        crate::config::AuthToken::Simple { ttl } => Tokens::simple(*ttl),
        crate::config::AuthToken::Jwt(options) => Tokens::Jwt(Box::new(
            JwtTokens::new(options)
                .map_err(|e| BootError::Invalid(format!("--auth-token: {e}")))?,
        )),
    });

    let conf = conf_state_of(membership.members.iter().map(|m| (m.id, m.is_learner)));
    let (wal, contents) = open_wal(&dirs, pending_install.as_ref().map(|p| &p.meta))?;
    let (mut wal, contents) =
        cut_restored_log(&dirs, wal, contents, store.consistent_index(), &conf)?;
    wal.keep_released_segments(config.max_wals == 0);
    let contents = if config.force_new_cluster {
        force_new_cluster::force_new_cluster(
            &mut wal,
            contents,
            &membership,
            store.consistent_index(),
        )?
    } else {
        contents
    };
    if pending_install.is_some() {
        snapshots.finish_install()?;
        tracing::info!(
            index = store.consistent_index(),
            "installed the leader's snapshot"
        );
    }
    let peers = other_members(&membership);
    let storage = raft_log::restore(contents, &conf)?;
    let applied = store.consistent_index();
    reconcile_commit(&storage, applied);
    let raw = new_raw_node(
        &config,
        membership.local_id,
        RaftStore::new(storage),
        applied,
    )?;
    tracing::info!(
        member = format!("{:x}", membership.local_id),
        cluster = format!("{:x}", membership.cluster_id),
        applied,
        revision = store.current_revision(),
        "storage restored"
    );

    let listeners = bind_urls(&config.listen_client_urls)?;
    let peer_listeners = bind_urls(&config.listen_peer_urls)?;
    let metrics_listeners = bind_urls(&config.listen_metrics_urls)?;
    init_metrics(&config);
    let system = System::new();
    // From here on a stop signal is handled (before, it ends the process
    // as its default action does, with nothing to drain).
    let signals = system.block_on(async { StopSignals::listen() })?;
    let (trigger, shutdown) = shutdown_channel();
    let api_ctx = system.block_on(async {
        start_actors(
            &config,
            store,
            membership,
            raw,
            wal,
            auth_provider,
            tokens,
            applied,
            snapshots,
            shutdown,
        )
    });
    let published = publish_member_attributes(&api_ctx.frontend, &config, api_ctx.local_id);
    let snapshot_dir = SnapshotDir::new(dirs.snap.clone()).keeping_all(config.max_snapshots == 0);
    let snapshot_receiver = system.block_on(async {
        SyncArbiter::start(1, move || SnapshotReceiver::new(snapshot_dir.clone()))
    });
    let peer_service = PeerService::new(
        api_ctx.raft.clone(),
        api_ctx.lessor.clone(),
        api_ctx.readers.clone(),
        api_ctx.header.clone(),
        snapshot_receiver,
    );
    let (raft, board) = (api_ctx.raft.clone(), api_ctx.header.board.clone());
    let metrics_ctx = api_ctx.clone();
    let metrics_listeners = zip(
        metrics_listeners,
        tls::per_listener(&config.listen_metrics_urls, &client_tls),
    );
    system.block_on(async move { serve_metrics(metrics_listeners, metrics_ctx) })?;
    let peer_listeners = zip(
        peer_listeners,
        tls::per_listener(&config.listen_peer_urls, &peer_tls),
    );
    let check_peer_san = !config.peer_skip_client_san_verification;
    system.block_on(async move { serve_peers(peer_listeners, peer_service, check_peer_san) })?;
    // Peers answer each other's hash requests from here on, so members
    // started together can all check.
    if config.initial_corrupt_check {
        let readers = api_ctx.readers.clone();
        let (local_id, timeout) = (api_ctx.local_id, config.request_timeout());
        system.block_on(async move {
            corrupt_check::initial_corrupt_check(&readers, local_id, peers, timeout).await
        })?;
    }
    if let Some(period) = config.corrupt_check_time {
        let monitor = corrupt_monitor::Monitor {
            period,
            local_id: api_ctx.local_id,
            board: api_ctx.header.board.clone(),
            readers: api_ctx.readers.clone(),
            raft: api_ctx.raft.clone(),
            frontend: api_ctx.frontend.clone(),
            timeout: config.request_timeout(),
        };
        system.block_on(async move {
            actix::spawn(monitor.run());
        });
    }
    let listeners = zip(
        listeners,
        tls::per_listener(&config.listen_client_urls, &client_tls),
    );
    let clients = system.block_on(async move { serve_clients(listeners, api_ctx, published) })?;
    system.block_on(stop_on_signal(Stopping {
        signals,
        trigger,
        raft,
        board,
        clients,
        election_timeout: config.election_timeout,
    }));
    system.run()?;
    Ok(())
}

/// LMDB's map for a backend quota (see [`MAP_HEADROOM_BYTES`]).
pub(crate) fn map_size_for(quota_backend_bytes: u64) -> u64 {
    quota_backend_bytes
        .saturating_mul(2)
        .saturating_add(MAP_HEADROOM_BYTES)
}

/// Every other member's id and peer URLs.
fn other_members(membership: &Membership) -> Vec<(u64, Vec<String>)> {
    membership
        .members
        .iter()
        .filter(|m| m.id != membership.local_id)
        .map(|m| (m.id, m.peer_urls.clone()))
        .collect()
}

fn zip<A, B>(a: Vec<A>, b: Vec<B>) -> Vec<(A, B)> {
    a.into_iter().zip(b).collect()
}

/// Metrics fixed for the process's life.
fn init_metrics(config: &Config) {
    let metrics = crate::metrics::metrics();
    if config.extensive_metrics {
        metrics.enable_extensive();
    }
    metrics
        .server
        .quota_backend_bytes
        .set(i64::try_from(config.quota_backend_bytes).unwrap_or(i64::MAX));
}

/// Locks the data dir, and the WAL dir when it is given apart, before
/// anything in them is opened or created: a second process on the same dirs
/// must exit rather than write the same files.
fn lock_dirs(config: &Config) -> Result<Vec<DirLock>, BootError> {
    let locked = |dir: &std::path::Path| {
        DirLock::acquire(dir).map_err(|err| match err {
            in_use @ StorageError::DirInUse { .. } => BootError::DirLocked(in_use),
            other => BootError::Storage(other),
        })
    };
    let mut locks = vec![locked(&config.data_dir)?];
    if let Some(wal_dir) = &config.wal_dir {
        // The same dir named twice is locked once (a second flock from this
        // process would refuse itself).
        let same =
            std::fs::canonicalize(wal_dir).ok() == Some(std::fs::canonicalize(&config.data_dir)?);
        if !same {
            locks.push(locked(wal_dir)?);
        }
    }
    Ok(locks)
}

/// Opens the WAL; after a snapshot install, first cuts it at the snapshot
/// (dropping the log the snapshot replaces) and reads it again.
fn open_wal(
    dirs: &DataDirs,
    installed: Option<&raft::eraftpb::SnapshotMetadata>,
) -> Result<(Wal, WalContents), BootError> {
    let options = || WalOptions {
        segment_bytes: WAL_SEGMENT_BYTES,
    };
    let (mut wal, contents) = Wal::open(&dirs.wal, options())?;
    let Some(meta) = installed else {
        return Ok((wal, contents));
    };
    wal.compact_to(meta)?;
    drop(wal);
    Ok(Wal::open(&dirs.wal, options())?)
}

/// A store restored from a snapshot holds state up to its consistent index
/// with no log behind it (nothing else has an empty WAL and applied
/// entries): the log starts after a cut there, as etcd's restore writes a
/// snapshot record, so raft sends a member added later a snapshot of the
/// restored data instead of an empty log.
fn cut_restored_log(
    dirs: &DataDirs,
    mut wal: Wal,
    contents: WalContents,
    applied: u64,
    conf: &raft::eraftpb::ConfState,
) -> Result<(Wal, WalContents), BootError> {
    let empty =
        contents.hard_state.is_none() && contents.entries.is_empty() && contents.snapshot.is_none();
    if !empty || applied == 0 {
        return Ok((wal, contents));
    }
    let meta = raft::eraftpb::SnapshotMetadata {
        index: applied,
        term: 1,
        conf_state: Some(conf.clone()).into(),
        ..Default::default()
    };
    wal.compact_to(&meta)?;
    drop(wal);
    tracing::info!(
        index = applied,
        "a restored member's log starts after its snapshot"
    );
    Ok(Wal::open(
        &dirs.wal,
        WalOptions {
            segment_bytes: WAL_SEGMENT_BYTES,
        },
    )?)
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
    storage: RaftStore,
    applied: u64,
) -> Result<RawNode<RaftStore>, BootError> {
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

#[allow(clippy::too_many_arguments)]
fn start_actors(
    config: &Config,
    store: Arc<Store>,
    membership: Membership,
    raw: RawNode<RaftStore>,
    wal: Wal,
    auth_provider: Option<Arc<dyn crate::actors::auth::AuthProvider>>,
    tokens: Arc<Tokens>,
    applied: u64,
    snapshot_dir: SnapshotDir,
    shutdown: Shutdown,
) -> ApiContext {
    let board = Arc::new(RaftStatusBoard::default());
    board.publish_applied(applied);

    let mut gate = AuthGate::new(
        store.clone(),
        tokens.clone(),
        config.client_tls.client_cert_auth,
    );
    if let Some(provider) = auth_provider {
        gate = gate.with_provider(Auth::start(provider, AUTH_PROVIDER_THREADS));
    }
    let gate = Arc::new(gate);
    let writer_store = store.clone();
    // etcd's backend batch limit counts operations per backend commit; an
    // LMDB flush is oxcd's durable backend commit.
    let sync_every_entries = match config.backend_batch_limit {
        0 => config.snapshot_count,
        limit => limit.min(config.snapshot_count),
    };
    let purge_store = store.clone();
    let batch_limit = config.compaction_batch_limit;
    let purger = SyncArbiter::start(1, move || Purger::new(purge_store.clone(), batch_limit));
    if store.purge_pending() {
        // A compaction's purge was cut short by a stop.
        purger.do_send(Purge);
    }
    let batch_writer = BatchWriter::new(
        writer_store,
        tokens,
        sync_every_entries,
        config.quota_backend_bytes,
    )
    .with_purger(purger)
    .with_sync_interval(
        config
            .backend_batch_interval
            .unwrap_or(crate::actors::mvcc_store::DEFAULT_LMDB_SYNC_INTERVAL),
    );
    let thread_writer = batch_writer.clone();
    let mvcc = SyncArbiter::start(1, move || MvccWriter::new(thread_writer.clone()));
    let defrag_store = store.clone();
    let defragmenter = SyncArbiter::start(1, move || Defragmenter::new(defrag_store.clone()));
    let reader_store = store.clone();
    let readers = SyncArbiter::start(READER_THREADS, move || {
        MvccReader::new(reader_store.clone())
    });
    let wal_writer = WalHandle::start(wal, board.clone());
    // The front end hears of proposals the quota actor or the raft node
    // refused: make its address first, run it once those exist.
    let frontend_ctx = Context::<FrontEnd>::new();
    let refusals = frontend_ctx.address().recipient::<Refused>();

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
    let snapshots = Snapshots::new(snapshot_dir, readers.clone(), config.snapshot_count);
    let peers = other_members(&membership);
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
    let tick_advance = (
        config.initial_election_tick_advance,
        config.election_ticks() as usize,
    );
    let raft_refusals = refusals.clone();
    let raft = RaftNode::start_in_arbiter(&raft_arbiter, move |_| {
        RaftNode::new(
            raw,
            wal_writer,
            applier_addr,
            peer_net,
            raft_board,
            tick,
            applied,
            snapshots,
        )
        .with_initial_tick_advance(tick_advance.0, tick_advance.1)
        .with_refusals(raft_refusals)
    });
    let quota = Quota::new(
        config.max_request_bytes as usize,
        config.quota_backend_bytes,
        store.clone(),
        board.clone(),
        raft.clone().recipient(),
        refusals,
    )
    .start();
    let frontend = frontend_ctx.run(
        FrontEnd::new(
            raft.clone(),
            quota,
            gate.clone(),
            readers.clone(),
            membership.local_id,
            config.request_timeout(),
        )
        .with_range_budget(RangeBudget::new(config.range_memory_budget)),
    );
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
        forward_times: ForwardTimes {
            election_timeout: config.election_timeout,
            request_timeout: config.request_timeout(),
        },
    };
    let lessor = Lessor::new(
        store.clone(),
        frontend.clone(),
        config.lease_checkpoint_interval,
        lessor_peers,
    )
    .start();
    let listeners = ApplyListeners {
        waiters: frontend.clone().recipient(),
        watchers: watch_hub.clone().recipient(),
        leases: lessor.clone().recipient(),
        member_urls: lessor.clone().recipient(),
        conf_changes: raft.clone().recipient(),
        applied: raft.clone().recipient(),
        durable: raft.clone().recipient(),
    };
    applier_ctx.run(
        Applier::new(batch_writer, mvcc, listeners, board.clone())
            .with_slow_apply_warning(config.warning_apply_duration),
    );
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
        gate,
        raft,
        readers,
        watch_hub,
        lessor,
        min_lease_ttl: config.min_lease_ttl(),
        peer_health,
        strict_reconfig_check: config.strict_reconfig_check,
        election_timeout: config.election_timeout,
        header,
        local_id: membership.local_id,
        max_request_bytes: config.max_request_bytes as usize,
        max_txn_ops: config.max_txn_ops as usize,
        quota_backend_bytes: config.quota_backend_bytes,
        defragmenter,
        snap_dir: DataDirs::of(config).snap,
        keepalive_interval: non_zero(config.grpc_keepalive.interval),
        keepalive_timeout: non_zero(config.grpc_keepalive.timeout),
        ping_policy: crate::api::ping_policy::PingPolicy::from_flag(config.grpc_keepalive.min_time),
        purged_revision: store.watch_purged(),
        shutdown,
        request_timeout: config.request_timeout(),
        extensive_metrics: config.extensive_metrics,
        max_concurrent_streams: config.max_concurrent_streams,
        bcrypt_cost: config.bcrypt_cost,
        enable_grpc_gateway: config.enable_grpc_gateway,
        cors: config.cors.clone(),
        host_whitelist: config.host_whitelist.clone(),
    }
}

fn non_zero(duration: std::time::Duration) -> Option<std::time::Duration> {
    (!duration.is_zero()).then_some(duration)
}
