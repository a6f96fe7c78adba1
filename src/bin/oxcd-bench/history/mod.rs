//! Recorded histories: what the `kubernetes` and `kv` loads sent, what came back and when,
//! and every watch response their watchers saw, written as one JSON file with `--record`
//! and checked by `oxcd-bench check-history` (module `check`).
//!
//! Times are nanoseconds since the recorder was made (one monotonic clock for all clients).
//! Keys and values are the loads' own ASCII text, so they are kept as strings.

pub mod check;
pub mod convert;
pub mod recorder;

use serde::{Deserialize, Serialize};

/// A whole recorded run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    /// The load that made it (`kubernetes`, `kv`).
    pub load: String,
    /// Every key the load writes starts with this; the watchers watch all of it.
    pub prefix: String,
    /// The prefix's contents at `initial.revision`, read before the first request.
    pub initial: Snapshot,
    pub operations: Vec<Operation>,
    pub watches: Vec<WatchStream>,
}

/// A linearizable read of the whole prefix.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub revision: i64,
    pub kvs: Vec<Kv>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Kv {
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lease: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// One request as a client sent it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// `end` empty: the single key; otherwise `[key, end)`.
    Range {
        key: String,
        #[serde(default)]
        end: String,
        #[serde(default)]
        limit: i64,
        /// 0: the newest revision.
        #[serde(default)]
        revision: i64,
        #[serde(default)]
        serializable: bool,
        #[serde(default)]
        keys_only: bool,
        #[serde(default)]
        count_only: bool,
    },
    Put {
        key: String,
        value: String,
        #[serde(default)]
        lease: i64,
    },
    Delete {
        key: String,
    },
    Txn {
        compares: Vec<Compare>,
        success: Vec<Request>,
        failure: Vec<Request>,
    },
    LeaseGrant {
        ttl: i64,
    },
    LeaseRevoke {
        id: i64,
    },
    Compact {
        revision: i64,
    },
}

/// An equality compare of a txn (the only kind the loads send).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Compare {
    pub key: String,
    pub target: CompareTarget,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum CompareTarget {
    ModRevision(i64),
    CreateRevision(i64),
    Version(i64),
    Value(String),
}

/// What came back for a request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    Range {
        revision: i64,
        kvs: Vec<Kv>,
        count: i64,
        more: bool,
    },
    Put {
        revision: i64,
    },
    Delete {
        revision: i64,
        deleted: i64,
    },
    Txn {
        revision: i64,
        succeeded: bool,
        results: Vec<Response>,
    },
    LeaseGrant {
        revision: i64,
        id: i64,
    },
    LeaseRevoke {
        revision: i64,
    },
    Compact {
        revision: i64,
    },
}

impl Response {
    /// The header revision.
    pub fn revision(&self) -> i64 {
        match self {
            Response::Range { revision, .. }
            | Response::Put { revision }
            | Response::Delete { revision, .. }
            | Response::Txn { revision, .. }
            | Response::LeaseGrant { revision, .. }
            | Response::LeaseRevoke { revision }
            | Response::Compact { revision } => *revision,
        }
    }
}

/// One request and its fate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Operation {
    pub client: u64,
    /// Just before the request was sent.
    pub invoke: u64,
    /// Just after the answer (or error) arrived.
    pub complete: u64,
    pub request: Request,
    /// `Err`: the request failed or timed out; it may or may not have taken effect.
    pub outcome: Result<Response, String>,
}

/// One watch stream (a watcher that reconnects opens a new one).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WatchStream {
    pub watcher: u64,
    pub key: String,
    pub end: String,
    /// 0: from the newest revision.
    pub start_revision: i64,
    pub prev_kv: bool,
    pub progress_notify: bool,
    /// When the create request was sent.
    pub opened: u64,
    pub responses: Vec<WatchResponse>,
    /// Why the stream ended, if it did not end with the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WatchResponse {
    /// When it arrived.
    pub at: u64,
    /// The header revision.
    pub revision: i64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub created: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub canceled: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub compact_revision: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
}

impl WatchResponse {
    /// A progress notification: no events, neither the creation nor the end of the stream.
    pub fn is_progress(&self) -> bool {
        self.events.is_empty() && !self.created && !self.canceled
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub kv: Kv,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_kv: Option<Kv>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Put,
    Delete,
}

/// The end of the range of keys starting with `prefix` (etcd's `--prefix`).
pub fn prefix_end(prefix: &str) -> String {
    String::from_utf8_lossy(&oxcd::prefix::prefix_end(prefix.as_bytes())).into_owned()
}
