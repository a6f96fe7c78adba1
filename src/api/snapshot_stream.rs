//! Maintenance.Snapshot: the store written as etcd's backend file (on a
//! reader thread, from one read snapshot, into `member/snap`), then streamed
//! as etcd streams it: 32 KiB chunks with the bytes still to come, then one
//! message holding the SHA-256 of everything sent (`etcdctl snapshot
//! restore` checks it). The file goes when the stream ends.

use std::path::PathBuf;

use actix::Addr;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tonic::Status;

use super::ask::ask;
use super::ApiError;
use crate::actors::mvcc_store::{ExportEtcdSnapshot, MvccReader};
use crate::proto::etcdserverpb::SnapshotResponse;

/// etcd's chunk size.
const CHUNK: usize = 32 * 1024;

/// Builds the file and starts streaming it; the receiver yields the
/// responses.
pub(super) async fn stream_snapshot(
    readers: &Addr<MvccReader>,
    snap_dir: PathBuf,
    term: u64,
) -> Result<mpsc::Receiver<Result<SnapshotResponse, Status>>, ApiError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let path = snap_dir.join(format!("etcd-snapshot-{nanos}.db.part"));
    let (size, revision) = ask(
        readers,
        ExportEtcdSnapshot {
            path: path.clone(),
            term,
        },
    )
    .await?;
    // etcd's messages and field names, which operators grep for.
    tracing::info!(
        "total-bytes" = size,
        revision,
        "sending database snapshot to client"
    );
    let started = std::time::Instant::now();
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let outcome = send_file(&path, size, &tx).await;
        let _ = std::fs::remove_file(&path);
        match outcome {
            Ok(()) => tracing::info!(
                "total-bytes" = size,
                took = ?started.elapsed(),
                "successfully sent database snapshot to client"
            ),
            Err(err) => {
                tracing::warn!(%err, "sending a database snapshot failed");
                let _ = tx.send(Err(Status::internal(err.to_string()))).await;
            }
        }
    });
    Ok(rx)
}

async fn send_file(
    path: &std::path::Path,
    size: u64,
    tx: &mpsc::Sender<Result<SnapshotResponse, Status>>,
) -> std::io::Result<()> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut sent = 0u64;
    while sent < size {
        let want = CHUNK.min((size - sent) as usize);
        let mut blob = vec![0u8; want];
        file.read_exact(&mut blob).await?;
        digest.update(&blob);
        sent += want as u64;
        let chunk = SnapshotResponse {
            remaining_bytes: size - sent,
            blob,
            ..Default::default()
        };
        if tx.send(Ok(chunk)).await.is_err() {
            return Ok(()); // the client went away
        }
    }
    let trailer = SnapshotResponse {
        remaining_bytes: 0,
        blob: digest.finish().as_ref().to_vec(),
        ..Default::default()
    };
    let _ = tx.send(Ok(trailer)).await;
    Ok(())
}
