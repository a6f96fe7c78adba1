//! The server's stop, as the API sees it: listeners stop accepting, and
//! long-lived streams (Watch, LeaseKeepAlive) end with etcd's "server
//! stopped" so clients move to another member instead of waiting.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::{Stream, StreamExt};
use tonic::Status;

/// Fired once, by boot, when a stop signal arrives.
pub struct ShutdownTrigger(tokio::sync::watch::Sender<bool>);

/// Resolves when the server stops; cheap to clone into every stream.
#[derive(Clone)]
pub struct Shutdown(tokio::sync::watch::Receiver<bool>);

pub fn shutdown_channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    pub fn fire(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// Waits for the stop. A trigger dropped without firing never stops.
    pub async fn wait(mut self) {
        if self.0.wait_for(|stopped| *stopped).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// etcd's answer on a server that is stopping (codes.Unavailable, so clients
/// retry elsewhere).
pub fn server_stopped() -> Status {
    Status::unavailable("etcdserver: server stopped")
}

/// `stream` until `signal` resolves, then one last item: `ending()`'s error.
/// A stream that ends first ends as it would have.
pub fn end_when<S, T>(
    stream: S,
    signal: impl Future<Output = ()> + Send + 'static,
    ending: fn() -> Status,
) -> impl Stream<Item = Result<T, Status>> + Send + 'static
where
    S: Stream<Item = Result<T, Status>> + Send + 'static,
    T: Send + 'static,
{
    let fired = Arc::new(AtomicBool::new(false));
    let flag = fired.clone();
    let until = async move {
        signal.await;
        flag.store(true, Ordering::Relaxed);
    };
    let last =
        futures::stream::once(async move { fired.load(Ordering::Relaxed).then(|| Err(ending())) })
            .filter_map(futures::future::ready);
    stream.take_until(Box::pin(until)).chain(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stream_ends_with_server_stopped_when_the_server_stops() {
        let (trigger, shutdown) = shutdown_channel();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<u32, Status>>();
        let mut out = Box::pin(end_when(
            tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
            shutdown.wait(),
            server_stopped,
        ));
        tx.send(Ok(1)).unwrap();
        assert_eq!(out.next().await.unwrap().unwrap(), 1);
        trigger.fire();
        let last = out.next().await.unwrap().unwrap_err();
        assert_eq!(last.code(), tonic::Code::Unavailable);
        assert_eq!(last.message(), "etcdserver: server stopped");
        assert!(out.next().await.is_none());
    }

    #[tokio::test]
    async fn a_stream_that_ends_first_ends_quietly() {
        let (_trigger, shutdown) = shutdown_channel();
        let items = futures::stream::iter(vec![Ok::<u32, Status>(7)]);
        let collected: Vec<_> = end_when(items, shutdown.wait(), server_stopped)
            .collect()
            .await;
        assert_eq!(collected.len(), 1);
        assert!(collected[0].is_ok());
    }

    #[tokio::test]
    async fn a_dropped_trigger_never_stops() {
        let (trigger, shutdown) = shutdown_channel();
        drop(trigger);
        let waited = tokio::time::timeout(std::time::Duration::from_millis(50), shutdown.wait());
        assert!(waited.await.is_err());
    }
}
