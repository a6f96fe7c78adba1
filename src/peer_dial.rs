//! Dialling other members: every member-to-member call (raft streams,
//! snapshots, lease forwarding, join, learner checks) opens its channel
//! here, so an `https://` peer URL gets TLS wherever it is dialled.
//!
//! The peer TLS client configuration is set once at boot, before any peer
//! is dialled, and never changes; a process-wide cell saves threading it
//! through every actor that talks to peers.

use std::sync::{Arc, OnceLock};

use tonic::transport::{Channel, Endpoint, Uri};

static PEER_TLS: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();

/// Sets the TLS configuration for https peer URLs (once, at boot).
pub fn use_tls(config: Arc<rustls::ClientConfig>) {
    if PEER_TLS.set(config).is_err() {
        tracing::warn!("peer TLS configured twice; the first configuration stays");
    }
}

fn is_https(endpoint: &Endpoint) -> bool {
    endpoint.uri().scheme_str() == Some("https")
}

/// Connects now.
pub async fn connect(endpoint: Endpoint) -> Result<Channel, tonic::transport::Error> {
    if is_https(&endpoint) {
        endpoint
            .connect_with_connector(tower::service_fn(dial_tls))
            .await
    } else {
        endpoint.connect().await
    }
}

/// Connects on first use (and again after a failure).
pub fn connect_lazy(endpoint: Endpoint) -> Channel {
    if is_https(&endpoint) {
        endpoint.connect_with_connector_lazy(tower::service_fn(dial_tls))
    } else {
        endpoint.connect_lazy()
    }
}

async fn dial_tls(uri: Uri) -> std::io::Result<crate::tls::TlsIo> {
    let config = PEER_TLS.get().cloned().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{uri} is an https peer URL but this member has no peer TLS settings (--peer-cert-file/--peer-key-file or --peer-auto-tls)"
            ),
        )
    })?;
    crate::tls::dial(config, uri).await
}
