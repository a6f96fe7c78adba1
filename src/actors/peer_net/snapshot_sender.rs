//! Streams a raft snapshot file to a peer (`oxcdpeer.Peer/Snapshot`) in
//! chunks, on a connection of its own so heartbeats and appends to other
//! members never queue behind it.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tonic::transport::Endpoint;

use crate::proto::oxcdpeer::peer_client::PeerClient;
use crate::proto::oxcdpeer::SnapshotChunk;

/// Bytes of the file per chunk.
const CHUNK_BYTES: usize = 1 << 20;
/// A transfer may take this long plus a second per `SLOWEST_BYTES_PER_SEC`.
const BASE_TIMEOUT: Duration = Duration::from_secs(30);
const SLOWEST_BYTES_PER_SEC: u64 = 8 << 20;

/// Who sends to whom, and what.
pub struct SnapshotTransfer {
    pub cluster_id: u64,
    pub from: u64,
    pub to: u64,
    /// The encoded raft MsgSnapshot.
    pub message: Vec<u8>,
    pub file: PathBuf,
}

/// Tries each of the peer's URLs in turn; returns the bytes the peer took.
pub async fn send_snapshot(urls: Vec<String>, transfer: SnapshotTransfer) -> Result<u64, String> {
    let size = tokio::fs::metadata(&transfer.file)
        .await
        .map_err(|e| format!("snapshot file {}: {e}", transfer.file.display()))?
        .len();
    let limit = BASE_TIMEOUT + Duration::from_secs(size / SLOWEST_BYTES_PER_SEC);
    let mut last_error = "the peer has no URL".to_string();
    for url in &urls {
        match tokio::time::timeout(limit, send_once(url, &transfer)).await {
            Ok(Ok(bytes)) => return Ok(bytes),
            Ok(Err(err)) => last_error = format!("{url}: {err}"),
            Err(_) => last_error = format!("{url}: no answer within {limit:?}"),
        }
    }
    Err(last_error)
}

async fn send_once(url: &str, transfer: &SnapshotTransfer) -> Result<u64, String> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true);
    let channel = crate::peer_dial::connect(endpoint)
        .await
        .map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel::<SnapshotChunk>(2);
    let file = transfer.file.clone();
    let first = SnapshotChunk {
        cluster_id: transfer.cluster_id,
        from: transfer.from,
        to: transfer.to,
        message: transfer.message.clone(),
        data: Vec::new(),
    };
    let reader = tokio::spawn(feed_chunks(file, first, tx));
    let answer = PeerClient::new(channel)
        .snapshot(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await;
    let sent = reader
        .await
        .map_err(|e| format!("reading the snapshot: {e}"))??;
    let taken = answer
        .map_err(|s| s.message().to_string())?
        .into_inner()
        .bytes;
    if taken != sent {
        return Err(format!("peer took {taken} of {sent} bytes"));
    }
    Ok(taken)
}

/// Reads the file into chunks; the first carries the raft message.
async fn feed_chunks(
    file: PathBuf,
    mut chunk: SnapshotChunk,
    tx: mpsc::Sender<SnapshotChunk>,
) -> Result<u64, String> {
    let mut reader = tokio::fs::File::open(&file)
        .await
        .map_err(|e| format!("open {}: {e}", file.display()))?;
    let mut sent = 0u64;
    loop {
        let mut data = Vec::with_capacity(CHUNK_BYTES);
        let read = (&mut reader)
            .take(CHUNK_BYTES as u64)
            .read_to_end(&mut data)
            .await
            .map_err(|e| format!("read {}: {e}", file.display()))?;
        let last = read < CHUNK_BYTES;
        sent += read as u64;
        chunk.data = data;
        if tx.send(chunk).await.is_err() {
            // The call ended early; its status says why.
            return Ok(sent);
        }
        if last {
            return Ok(sent);
        }
        chunk = SnapshotChunk::default();
    }
}
