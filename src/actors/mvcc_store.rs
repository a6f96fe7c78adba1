//! The MVCC store actors. A batch of committed requests is applied in one
//! LMDB transaction together with the consistent index, by `BatchWriter`
//! (`writer.rs`): inline on the applier's thread for a small batch that is
//! not due to flush LMDB (no thread hop on the latency path), else on the
//! dedicated `MvccWriter` thread, which alone flushes LMDB. LMDB write
//! transactions commit on the thread that opened them either way, and only
//! one batch is in flight at a time. `MvccReader`s (`readers.rs`) run reads
//! on LMDB read transactions on a small thread pool, in parallel with the
//! writer.

mod auth_tokens;
mod defragmenter;
mod op_counts;
mod purger;
mod readers;
mod writer;

pub use defragmenter::{Defragment, Defragmenter};
pub use purger::{Purge, Purger};
pub use readers::{
    BackendStatus, BuildSnapshot, CountLiveKeys, ExportEtcdSnapshot, GetBackendStatus,
    GetDowngrade, GetMembers, HashBackend, HashKv, MvccReader, RangeRead, ReadRange,
};
pub use writer::{
    ApplyBatch, ApplyItem, BatchApplied, BatchWriter, MvccWriter, DEFAULT_LMDB_SYNC_INTERVAL,
};
