//! Opening a TLS connection to `https://host:port` for a tonic channel
//! (tonic's own TLS is not compiled in; oxcd keeps one rustls setup).

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tonic::transport::Uri;

pub type TlsIo = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;

/// Connects to the URI's host and port and speaks TLS with `config`,
/// checking the server's certificate for that host.
pub async fn dial(config: Arc<rustls::ClientConfig>, uri: Uri) -> std::io::Result<TlsIo> {
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
    let host = uri
        .host()
        .ok_or_else(|| invalid(format!("{uri} has no host")))?
        .trim_matches(['[', ']'])
        .to_string();
    let port = uri.port_u16().unwrap_or(443);
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    // Small request/response frames: Nagle would add delayed-ACK stalls.
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from(host).map_err(|e| invalid(e.to_string()))?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    Ok(TokioIo::new(tls))
}
