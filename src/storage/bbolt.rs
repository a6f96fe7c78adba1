//! etcd's backend file format (bbolt): writing oxcd's state as the file
//! `etcdctl snapshot save` expects.

mod export;
mod writer;

pub use export::export_etcd;
