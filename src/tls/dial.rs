//! Opening a TLS connection to `https://host:port` (or over a Unix socket,
//! for `unixs://`) for a tonic channel (tonic's own TLS is not compiled in;
//! oxcd keeps one rustls setup).

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tonic::transport::Uri;

pub type TlsIo = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;

fn invalid(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, what)
}

/// The URI's host without IPv6 brackets: what the certificate must name.
fn host_of(uri: &Uri) -> std::io::Result<String> {
    Ok(uri
        .host()
        .ok_or_else(|| invalid(format!("{uri} has no host")))?
        .trim_matches(['[', ']'])
        .to_string())
}

/// Connects to the URI's host and port and speaks TLS with `config`,
/// checking the server's certificate for that host.
pub async fn dial(config: Arc<rustls::ClientConfig>, uri: Uri) -> std::io::Result<TlsIo> {
    let host = host_of(&uri)?;
    let port = uri.port_u16().unwrap_or(443);
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    // Small request/response frames: Nagle would add delayed-ACK stalls.
    tcp.set_nodelay(true)?;
    Ok(TokioIo::new(handshake(config, &uri, tcp).await?))
}

/// Speaks TLS over an open `stream` to the server `uri` names.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    config: Arc<rustls::ClientConfig>,
    uri: &Uri,
    stream: S,
) -> std::io::Result<tokio_rustls::client::TlsStream<S>> {
    let name = ServerName::try_from(host_of(uri)?).map_err(|e| invalid(e.to_string()))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
}
