//! Plain-Rust storage: LMDB backend, MVCC revisions and key index, WAL segments.
//! Knows nothing of actors or gRPC.
pub mod alarms;
pub mod error;
pub mod etcd_wal;
pub mod fsync;
pub use error::{StorageError, StorageResult};
pub mod auth;
pub mod backend;
pub mod bbolt;
pub mod dir_lock;
pub use dir_lock::DirLock;
pub mod key_index;
pub mod lease;
pub mod mapped_pages;
pub mod mvcc;
pub mod quota;
pub mod revision;
pub use mvcc::{
    RangeOptions, RangeResult, RangeSource, ReadTxn, Store, StoreOptions, TxnOutcome, TxnWrite,
    WriteBatch,
};
pub use revision::Revision;
pub mod raft_log;
pub mod raft_store;
pub mod snapshot;
pub mod wal;
pub use wal::{Wal, WalContents, WalOptions};
pub mod apply;
