//! Reads an etcd 3.4/3.5 WAL directory (`member/wal/*.wal`): the member's
//! and cluster's ids, the raft entries and the last hard state. Only for
//! taking over a data dir `etcdctl snapshot restore` wrote, whose log is the
//! new cluster's member additions.
//!
//! A segment is a run of frames: an 8-byte little-endian length (low 56
//! bits; a set top bit says the low 3 bits of the top byte are padding),
//! then a `walpb.Record{type, crc, data}`. Every record's crc is the
//! running CRC-32C of the data so far (a crc record carries the running
//! value over from the previous segment). Zeros end a segment (its
//! preallocated tail).

use std::path::Path;

use prost::Message;

use super::{StorageError, StorageResult};

const METADATA: i64 = 1;
const ENTRY: i64 = 2;
const STATE: i64 = 3;
const CRC: i64 = 4;
const SNAPSHOT: i64 = 5;

#[derive(Clone, PartialEq, Message)]
struct Record {
    #[prost(int64, optional, tag = "1")]
    kind: Option<i64>,
    #[prost(uint32, optional, tag = "2")]
    crc: Option<u32>,
    #[prost(bytes = "vec", optional, tag = "3")]
    data: Option<Vec<u8>>,
}

/// `etcdserverpb.Metadata`: whose log this is.
#[derive(Clone, PartialEq, Message)]
struct Metadata {
    #[prost(uint64, optional, tag = "1")]
    node_id: Option<u64>,
    #[prost(uint64, optional, tag = "2")]
    cluster_id: Option<u64>,
}

/// `raftpb.Entry`.
#[derive(Clone, PartialEq, Message)]
pub struct EtcdEntry {
    #[prost(int32, optional, tag = "1")]
    pub kind: Option<i32>,
    #[prost(uint64, optional, tag = "2")]
    pub term: Option<u64>,
    #[prost(uint64, optional, tag = "3")]
    pub index: Option<u64>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub data: Option<Vec<u8>>,
}

/// `raftpb.ConfChange`.
#[derive(Clone, PartialEq, Message)]
pub struct EtcdConfChange {
    #[prost(int32, optional, tag = "2")]
    pub kind: Option<i32>,
    #[prost(uint64, optional, tag = "3")]
    pub node_id: Option<u64>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub context: Option<Vec<u8>>,
}

/// `raftpb.HardState`.
#[derive(Clone, PartialEq, Message)]
struct HardState {
    #[prost(uint64, optional, tag = "1")]
    term: Option<u64>,
    #[prost(uint64, optional, tag = "2")]
    vote: Option<u64>,
    #[prost(uint64, optional, tag = "3")]
    commit: Option<u64>,
}

/// `walpb.Snapshot`: the raft snapshot the log starts after.
#[derive(Clone, PartialEq, Message)]
struct WalSnapshot {
    #[prost(uint64, optional, tag = "1")]
    index: Option<u64>,
}

/// raftpb.EntryConfChange.
pub const ENTRY_CONF_CHANGE: i32 = 1;

#[derive(Debug, Default)]
pub struct EtcdWal {
    pub node_id: u64,
    pub cluster_id: u64,
    pub entries: Vec<EtcdEntry>,
    pub commit: u64,
    /// The index of the last snapshot record (0 = none).
    pub snapshot_index: u64,
}

/// Reads every segment of `dir` in name order.
pub fn read_etcd_wal(dir: &Path) -> StorageResult<EtcdWal> {
    let mut names: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(corrupt(dir, "no .wal files"));
    }
    let mut wal = EtcdWal::default();
    let mut running = 0u32;
    for path in &names {
        let bytes = std::fs::read(path)?;
        let mut at = 0usize;
        while at + 8 <= bytes.len() {
            let mut len = [0u8; 8];
            len.copy_from_slice(&bytes[at..at + 8]);
            let field = u64::from_le_bytes(len);
            if field == 0 {
                break;
            }
            let size = (field & !(0xffu64 << 56)) as usize;
            let pad = if field >> 63 == 1 {
                ((field >> 56) & 0x7) as usize
            } else {
                0
            };
            let body = bytes
                .get(at + 8..at + 8 + size)
                .ok_or_else(|| corrupt(path, "a record runs past the end of the file"))?;
            at += 8 + size + pad;
            let record = Record::decode(body)
                .map_err(|e| corrupt(path, &format!("a record does not decode: {e}")))?;
            let data = record.data.unwrap_or_default();
            let kind = record.kind.unwrap_or_default();
            if kind == CRC {
                running = record.crc.unwrap_or_default();
                continue;
            }
            running = crc32c::crc32c_append(running, &data);
            if record.crc.unwrap_or_default() != running {
                return Err(corrupt(path, "a record fails its CRC"));
            }
            match kind {
                METADATA => {
                    let meta = Metadata::decode(data.as_slice())
                        .map_err(|e| corrupt(path, &format!("metadata: {e}")))?;
                    wal.node_id = meta.node_id.unwrap_or_default();
                    wal.cluster_id = meta.cluster_id.unwrap_or_default();
                }
                ENTRY => wal.entries.push(
                    EtcdEntry::decode(data.as_slice())
                        .map_err(|e| corrupt(path, &format!("entry: {e}")))?,
                ),
                STATE => {
                    let state = HardState::decode(data.as_slice())
                        .map_err(|e| corrupt(path, &format!("hard state: {e}")))?;
                    wal.commit = state.commit.unwrap_or_default();
                }
                SNAPSHOT => {
                    let snap = WalSnapshot::decode(data.as_slice())
                        .map_err(|e| corrupt(path, &format!("snapshot: {e}")))?;
                    wal.snapshot_index = snap.index.unwrap_or_default();
                }
                _ => {}
            }
        }
    }
    Ok(wal)
}

fn corrupt(path: &Path, why: &str) -> StorageError {
    StorageError::Corrupt(format!("etcd WAL {}: {why}", path.display()))
}
