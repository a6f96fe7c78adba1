//! etcd's backend file format (bbolt): writing oxcd's state as the file
//! `etcdctl snapshot save` expects, and reading etcd's (or oxcd's) files
//! back into oxcd's store.

mod etcd_records;
mod export;
mod format;
mod import;
mod reader;
mod status;
mod writer;

pub use export::export_etcd;
pub use import::{import_etcd, Imported};
pub use reader::{BoltError, BoltReader};
pub use status::{snapshot_status, SnapshotStatus};

#[cfg(test)]
mod tests;
