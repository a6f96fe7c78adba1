//! Dialling other members: every member-to-member call (raft streams,
//! snapshots, lease forwarding, join, learner checks) opens its channel
//! here, so an `https://` peer URL gets TLS and a `unix(s)://` one its
//! socket file wherever it is dialled.
//!
//! The peer TLS client configuration is set once at boot, before any peer
//! is dialled, and never changes; a process-wide cell saves threading it
//! through every actor that talks to peers.

use std::sync::{Arc, OnceLock};

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

static PEER_TLS: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();

/// Sets the TLS configuration for https peer URLs (once, at boot).
pub fn use_tls(config: Arc<rustls::ClientConfig>) {
    if PEER_TLS.set(config).is_err() {
        tracing::warn!("peer TLS configured twice; the first configuration stays");
    }
}

/// How a peer URL is reached.
enum Route {
    Tcp,
    TcpTls,
    Unix,
    UnixTls,
}

fn route(endpoint: &Endpoint) -> Route {
    match endpoint.uri().scheme_str() {
        Some("https") => Route::TcpTls,
        Some("unix") => Route::Unix,
        Some("unixs") => Route::UnixTls,
        _ => Route::Tcp,
    }
}

/// Connects now.
pub async fn connect(endpoint: Endpoint) -> Result<Channel, tonic::transport::Error> {
    match route(&endpoint) {
        Route::Tcp => endpoint.connect().await,
        Route::TcpTls => {
            endpoint
                .connect_with_connector(tower::service_fn(dial_tls))
                .await
        }
        Route::Unix => {
            endpoint
                .connect_with_connector(tower::service_fn(dial_unix))
                .await
        }
        Route::UnixTls => {
            endpoint
                .connect_with_connector(tower::service_fn(dial_unix_tls))
                .await
        }
    }
}

/// Connects on first use (and again after a failure).
pub fn connect_lazy(endpoint: Endpoint) -> Channel {
    match route(&endpoint) {
        Route::Tcp => endpoint.connect_lazy(),
        Route::TcpTls => endpoint.connect_with_connector_lazy(tower::service_fn(dial_tls)),
        Route::Unix => endpoint.connect_with_connector_lazy(tower::service_fn(dial_unix)),
        Route::UnixTls => endpoint.connect_with_connector_lazy(tower::service_fn(dial_unix_tls)),
    }
}

fn peer_tls(uri: &Uri) -> std::io::Result<Arc<rustls::ClientConfig>> {
    PEER_TLS.get().cloned().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{uri} is a TLS peer URL but this member has no peer TLS settings (--peer-cert-file/--peer-key-file or --peer-auto-tls)"
            ),
        )
    })
}

async fn dial_tls(uri: Uri) -> std::io::Result<crate::tls::TlsIo> {
    crate::tls::dial(peer_tls(&uri)?, uri).await
}

/// As etcd, a unix URL's `host:port` is the socket file's path.
async fn open_socket(uri: &Uri) -> std::io::Result<UnixStream> {
    let path = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    UnixStream::connect(path).await
}

async fn dial_unix(uri: Uri) -> std::io::Result<TokioIo<UnixStream>> {
    Ok(TokioIo::new(open_socket(&uri).await?))
}

async fn dial_unix_tls(
    uri: Uri,
) -> std::io::Result<TokioIo<tokio_rustls::client::TlsStream<UnixStream>>> {
    let config = peer_tls(&uri)?;
    let socket = open_socket(&uri).await?;
    Ok(TokioIo::new(
        crate::tls::handshake(config, &uri, socket).await?,
    ))
}
