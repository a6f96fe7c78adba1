//! A watch on the watch hub made by the server for itself (no gRPC stream):
//! one key or range from a revision, its events as they are applied. The
//! hub forgets it when it is dropped.

use std::sync::atomic::{AtomicU64, Ordering};

use actix::Addr;
use futures::{Stream, StreamExt};

use crate::actors::watch_hub::{
    outbox, ActivateWatch, CloseStream, CreateWatch, KeyRange, Outgoing, WatchHub, WatchSpec,
    STREAM_BUFFER_BYTES, STREAM_CHANNEL_CAPACITY,
};
use crate::actors::ServerError;
use crate::api::ApiError;
use crate::proto::etcdserverpb::WatchResponse;

/// Stream ids of the server's own watches: far above the client streams'
/// (which count up from 1).
static NEXT_STREAM: AtomicU64 = AtomicU64::new(1 << 62);

pub struct KeyWatch {
    hub: Addr<WatchHub>,
    stream: u64,
    events: std::pin::Pin<Box<dyn Stream<Item = Outgoing> + Send>>,
}

impl KeyWatch {
    /// Watches `[key, range_end)` (one key if `range_end` is empty) from
    /// revision `from` (0: from the next one).
    pub async fn start(
        hub: &Addr<WatchHub>,
        key: &[u8],
        range_end: &[u8],
        from: i64,
    ) -> Result<KeyWatch, ApiError> {
        let range = KeyRange::from_request(key, range_end).ok_or(ApiError::LostWatcher)?;
        let stream = NEXT_STREAM.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = outbox(STREAM_CHANNEL_CAPACITY, STREAM_BUFFER_BYTES);
        let spec = WatchSpec {
            range,
            filters: Vec::new(),
            prev_kv: false,
            progress_notify: false,
            fragment: false,
            tx,
        };
        let watch = KeyWatch {
            hub: hub.clone(),
            stream,
            events: Box::pin(rx.into_stream()),
        };
        let created = hub
            .send(CreateWatch {
                stream,
                watch_id: 0,
                start_revision: from,
                spec,
            })
            .await
            .map_err(ServerError::from)?;
        let (id, _) = created.map_err(|_| ApiError::LostWatcher)?;
        hub.do_send(ActivateWatch { stream, id });
        Ok(watch)
    }

    /// The next response with events (its header holds the revision); `None`
    /// if the hub let go (a compacted start, the server stopping).
    pub async fn next(&mut self) -> Option<WatchResponse> {
        loop {
            let out = self.events.next().await?;
            if out.response.canceled {
                return None;
            }
            if !out.response.events.is_empty() {
                return Some(out.response);
            }
        }
    }
}

impl Drop for KeyWatch {
    fn drop(&mut self) {
        self.hub.do_send(CloseStream {
            stream: self.stream,
        });
    }
}
