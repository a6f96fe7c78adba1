//! The loads: what one request of each subcommand is.
//!
//! A load is a [`Load`] (shared, built once from the command line) that hands every client
//! loop its own [`Worker`]. The runner owns pacing, stopping, timing and statistics; a worker
//! only sends request number `n`. To add a load: add a subcommand in `args.rs`, a module
//! here with a `Load` + `Worker`, and a match arm in `main.rs`. Loads that must set things up first (open watch streams) do it in
//! [`Load::prepare`] or [`Load::worker`], before the clock starts; loads whose latency is not
//! the wall time of one call (a put seen through a watch) return it from [`Worker::request`].
//! `watch_latency` is the exception: one paced put loop and many watch streams, so it has
//! its own `run` and report instead of a `Load`. `lease_keepalive` also has its own `run`
//! (several keep-alives in flight per stream) but the request loads' statistics and report.

pub mod authenticate;
pub mod gateway;
pub mod lease_keepalive;
pub mod lock;
pub mod mixed;
pub mod put;
pub mod range;
pub mod traffic;
pub mod txn_put;
pub mod watch_latency;

use crate::keys::{KeySpace, Values};
use oxcd::proto::etcdserverpb::kv_client::KvClient;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::Status;

/// What a worker reports for one request: `Ok(None)` when the runner's wall-clock time of
/// the call is the latency, `Ok(Some(d))` when the worker measured the latency itself.
pub type Outcome = Result<Option<Duration>, Status>;

/// One kind of load, shared by all client loops.
pub trait Load: Send + Sync + 'static {
    type Worker: Worker;

    /// The load's name in reports (`put`, `range`, ...).
    fn name(&self) -> &'static str;

    /// One-time setup before any worker exists and before the clock starts.
    fn prepare(&self, _channels: &[Channel]) -> impl Future<Output = Result<(), String>> + Send {
        async { Ok(()) }
    }

    /// State for client loop number `client`, which sends on `channel`.
    fn worker(
        &self,
        client: u64,
        channel: Channel,
    ) -> impl Future<Output = Result<Self::Worker, String>> + Send;
}

/// One client loop's request sender.
pub trait Worker: Send + 'static {
    /// Send request number `n` (0-based, counted over all clients) and wait for its answer.
    fn request(&mut self, n: u64) -> impl Future<Output = Outcome> + Send;
}

/// What the KV loads share: the key space and the pre-generated values.
#[derive(Debug, Clone)]
pub struct KvData {
    pub keys: Arc<KeySpace>,
    pub values: Arc<Values>,
}

/// The auth token every request carries (`--user`), set once before the run.
pub static TOKEN: OnceLock<MetadataValue<Ascii>> = OnceLock::new();

/// Adds the `--user` token to each request, as etcd clients do.
#[derive(Debug, Clone, Copy)]
pub struct WithToken;

impl Interceptor for WithToken {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(token) = TOKEN.get() {
            request.metadata_mut().insert("token", token.clone());
        }
        Ok(request)
    }
}

/// A channel whose requests carry the token.
pub type Authed = InterceptedService<Channel, WithToken>;

/// A KV client that accepts responses of any size (large ranges).
pub fn kv_client(channel: Channel) -> KvClient<Authed> {
    KvClient::with_interceptor(channel, WithToken).max_decoding_message_size(usize::MAX)
}
