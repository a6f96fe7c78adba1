//! The recorded traffic profiles (`kubernetes`, `kv`): what they share. A [`Traffic`] reads
//! the prefix's starting state, runs the watchers and, at the end, hands over the history;
//! a [`Session`] is one client's connection, log, dice, and what it last saw of each key
//! (the mod revisions its compare-and-sets expect). Every value written is unique in the
//! run (`c<client>-<request>-<write>`), which lets the checker tell writes apart.

pub mod kubernetes;
pub mod kv;
pub mod recorded;
pub mod watchers;

use crate::args::TrafficArgs;
use crate::history::recorder::Recorder;
use crate::history::{prefix_end, Compare, CompareTarget, History, Request, Response, Snapshot};
use crate::keys::Rng;
use recorded::RecordedClient;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tonic::transport::Channel;
use tonic::Status;
use watchers::Watchers;

/// A traffic profile: a load that also hands over its recorded history at the end.
pub trait RecordedLoad: crate::loads::Load {
    fn finish(
        &self,
        channels: &[Channel],
    ) -> impl std::future::Future<Output = Result<History, String>> + Send;
}

/// The pause after an Unavailable answer.
const UNAVAILABLE_PAUSE: Duration = Duration::from_millis(50);

/// Attempts at the reads that open and close a run (a fault may be under way).
const SETUP_ATTEMPTS: u32 = 50;

pub struct Traffic {
    pub args: TrafficArgs,
    pub prefix: &'static str,
    pub recorder: Arc<Recorder>,
    watchers: OnceLock<Watchers>,
}

impl Traffic {
    pub fn new(args: &TrafficArgs, prefix: &'static str) -> Traffic {
        Traffic {
            args: args.clone(),
            prefix,
            recorder: Recorder::new(args.record.is_some()),
            watchers: OnceLock::new(),
        }
    }

    /// Read where the prefix starts from, and open the watchers just after it.
    pub async fn prepare(&self, channels: &[Channel]) -> Result<(), String> {
        let Response::Range { revision, kvs, .. } = self.whole_prefix(channels).await? else {
            return Err("a range answered something else".into());
        };
        self.recorder.set_initial(Snapshot { revision, kvs });
        let watchers = Watchers::start(
            &self.recorder,
            channels,
            self.prefix,
            self.args.watchers,
            revision + 1,
            self.args.progress_every,
        );
        let _ = self.watchers.set(watchers);
        Ok(())
    }

    /// Stop the watchers once they have seen the last revision; the run's history.
    pub async fn finish(&self, channels: &[Channel], load: &str) -> Result<History, String> {
        let last = self.whole_prefix(channels).await?.revision();
        if let Some(w) = self.watchers.get() {
            w.stop(last).await;
        }
        Ok(self.recorder.history(load, self.prefix))
    }

    /// A linearizable read of the whole prefix through any member that answers (not
    /// recorded: the history starts after the first and ends before the last).
    async fn whole_prefix(&self, channels: &[Channel]) -> Result<Response, String> {
        let request = Request::Range {
            key: self.prefix.to_string(),
            end: prefix_end(self.prefix),
            limit: 0,
            revision: 0,
            serializable: false,
            keys_only: false,
            count_only: false,
        };
        let scratch = Recorder::new(false);
        let mut last_error = String::new();
        for attempt in 0..SETUP_ATTEMPTS {
            let channel = channels[attempt as usize % channels.len()].clone();
            let mut client = RecordedClient::new(channel, scratch.client(u64::MAX));
            match client.send(request.clone()).await {
                Ok(r) => return Ok(r),
                Err(s) => last_error = s.message().to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(format!("cannot read {}: {last_error}", self.prefix))
    }

    pub fn session(&self, client: u64, channel: Channel) -> Session {
        Session {
            client: RecordedClient::new(channel, self.recorder.client(client)),
            rng: Rng::seeded(client),
            id: client,
            writes: 0,
            mod_revisions: HashMap::new(),
            lease: None,
            lease_ttl: self.args.lease_ttl,
        }
    }
}

pub fn range(key: &str, end: &str) -> Request {
    Request::Range {
        key: key.to_string(),
        end: end.to_string(),
        limit: 0,
        revision: 0,
        serializable: false,
        keys_only: false,
        count_only: false,
    }
}

pub struct Session {
    pub client: RecordedClient,
    pub rng: Rng,
    id: u64,
    writes: u64,
    /// What this client last saw of each key's mod revision (0: absent).
    mod_revisions: HashMap<String, i64>,
    lease: Option<i64>,
    lease_ttl: i64,
}

impl Session {
    /// A value no other write of the run uses.
    pub fn value(&mut self, n: u64) -> String {
        self.writes += 1;
        format!("c{}-{}-{}", self.id, n, self.writes)
    }

    pub fn seen(&self, key: &str) -> i64 {
        self.mod_revisions.get(key).copied().unwrap_or(0)
    }

    /// Remember the mod revisions a single-key read showed.
    fn learn(&mut self, key: &str, response: &Response) {
        if let Response::Range { kvs, .. } = response {
            let seen = kvs
                .iter()
                .find(|kv| kv.key == key)
                .map_or(0, |kv| kv.mod_revision);
            self.mod_revisions.insert(key.to_string(), seen);
        }
    }

    /// Send and record; after an unreachable member, pause a little before the next request
    /// (as etcd's clients back off) instead of filling the history with refusals.
    pub async fn send(&mut self, request: Request) -> Result<Response, Status> {
        let result = self.client.send(request).await;
        if let Err(s) = &result {
            if s.code() == tonic::Code::Unavailable {
                tokio::time::sleep(UNAVAILABLE_PAUSE).await;
            }
        }
        result
    }

    /// Get one key (linearizable or serializable).
    pub async fn get(&mut self, key: &str, serializable: bool) -> Result<(), Status> {
        let mut request = range(key, "");
        if let Request::Range {
            serializable: s, ..
        } = &mut request
        {
            *s = serializable;
        }
        let response = self.send(request).await?;
        self.learn(key, &response);
        Ok(())
    }

    /// If the key's mod revision is what this client last saw, write it (put or delete);
    /// else read it. The apiserver's GuaranteedUpdate and Delete.
    pub async fn compare_and(&mut self, key: &str, write: Request) -> Result<(), Status> {
        let deletes = matches!(write, Request::Delete { .. });
        let request = Request::Txn {
            compares: vec![Compare {
                key: key.to_string(),
                target: CompareTarget::ModRevision(self.seen(key)),
            }],
            success: vec![write],
            failure: vec![range(key, "")],
        };
        match self.send(request).await? {
            Response::Txn {
                succeeded: true,
                revision,
                ..
            } => {
                let now = if deletes { 0 } else { revision };
                self.mod_revisions.insert(key.to_string(), now);
            }
            Response::Txn { results, .. } => {
                if let Some(r) = results.first() {
                    self.learn(key, r);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// This client's lease, granted when it has none.
    pub async fn lease(&mut self) -> Result<i64, Status> {
        if let Some(id) = self.lease {
            return Ok(id);
        }
        let ttl = self.lease_ttl;
        match self.send(Request::LeaseGrant { ttl }).await? {
            Response::LeaseGrant { id, .. } => {
                self.lease = Some(id);
                Ok(id)
            }
            _ => Err(Status::internal("lease grant answered something else")),
        }
    }

    /// Put with this client's lease; a lease that is gone is replaced next time.
    pub async fn leased_put(&mut self, key: &str, n: u64) -> Result<(), Status> {
        let lease = self.lease().await?;
        let value = self.value(n);
        let result = self.send(Request::Put {
            key: key.to_string(),
            value,
            lease,
        });
        match result.await {
            Ok(_) => Ok(()),
            Err(s) => {
                if s.message().contains("lease not found") {
                    self.lease = None;
                }
                Err(s)
            }
        }
    }

    /// Revoke this client's lease (its keys go with it).
    pub async fn revoke_lease(&mut self) -> Result<(), Status> {
        let Some(id) = self.lease.take() else {
            return Ok(());
        };
        self.send(Request::LeaseRevoke { id }).await.map(|_| ())
    }
}
