//! Accepted client (and peer) connections (TCP with Nagle off, or a Unix
//! socket): TLS when the listen URL is https or unixs, and the `:authority` repair of
//! [`LenientAuthority`] on the decrypted bytes. Each TLS handshake runs in a
//! task of its own so a slow or silent client never holds up the others.
//!
//! A connection carries [`ConnInfo`]: the remote address and, for a verified
//! client certificate, its common name (the identity etcd's auth uses).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tonic::transport::server::Connected;

use super::lenient_authority::LenientAuthority;
use super::listener::{Listener, Stream};
use super::ping_policed::PingPoliced;
use super::ping_policy::PingPolicy;
use super::shutdown::Shutdown;

/// A handshake not done in this long is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Connections accepted and not yet taken by the server.
const ACCEPT_QUEUE: usize = 256;

/// Who is on the other end (in every request's extensions).
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    pub remote: Option<SocketAddr>,
    /// The common name of the verified client certificate, if any.
    pub common_name: Option<String>,
}

pub enum Conn {
    Plain(Stream),
    Tls(Box<TlsStream<Stream>>),
}

impl Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        match self {
            Conn::Plain(stream) => ConnInfo {
                remote: stream.peer_addr(),
                common_name: None,
            },
            Conn::Tls(tls) => {
                let (stream, session) = tls.get_ref();
                ConnInfo {
                    remote: stream.peer_addr(),
                    common_name: session
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .and_then(|leaf| crate::tls::common_name(leaf)),
                }
            }
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }
}

pub type Accepted = io::Result<LenientAuthority<PingPoliced<Conn>>>;

/// The connections `listener` accepts, until `shutdown` fires (never for
/// the peer listeners: a stopping leader still hands over through them);
/// TLS is spoken first when `tls` is given; clients pinging more often
/// than `pings` allows are sent away.
pub fn incoming(
    listener: Listener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: Option<Shutdown>,
    pings: Option<PingPolicy>,
) -> tokio_stream::wrappers::ReceiverStream<Accepted> {
    accept(listener, tls, shutdown, false, pings)
}

/// [`incoming`]; with `check_client_san`, a TLS client whose certificate
/// names addresses other than the one it connects from is refused (etcd's
/// check on the peer port; see `tls::check_peer_client_san`).
pub fn incoming_checked(
    listener: Listener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: Option<Shutdown>,
    check_client_san: bool,
) -> tokio_stream::wrappers::ReceiverStream<Accepted> {
    accept(listener, tls, shutdown, check_client_san, None)
}

fn accept(
    listener: Listener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: Option<Shutdown>,
    check_client_san: bool,
    pings: Option<PingPolicy>,
) -> tokio_stream::wrappers::ReceiverStream<Accepted> {
    let (tx, rx) = mpsc::channel(ACCEPT_QUEUE);
    let acceptor = tls.map(TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let stopped = async {
                match &shutdown {
                    Some(shutdown) => shutdown.clone().wait().await,
                    None => std::future::pending().await,
                }
            };
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stopped => return,
            };
            let (stream, remote) = match accepted {
                Ok(pair) => pair,
                // Out of descriptors and the like: back off, go on (as
                // Go's server does).
                Err(err) => {
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            match &acceptor {
                None => {
                    if tx.send(Ok(wrap(Conn::Plain(stream), pings))).await.is_err() {
                        return;
                    }
                }
                Some(acceptor) => {
                    let (acceptor, tx) = (acceptor.clone(), tx.clone());
                    tokio::spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                        {
                            Ok(Ok(tls)) => {
                                if check_client_san {
                                    if let Err(err) = client_san_fits(&tls, &remote).await {
                                        tracing::warn!(%remote, "rejected connection: {err}");
                                        return;
                                    }
                                }
                                let conn = Conn::Tls(Box::new(tls));
                                let _ = tx.send(Ok(wrap(conn, pings))).await;
                            }
                            // As Go's server: a failed handshake is logged,
                            // the listener goes on.
                            Ok(Err(err)) => {
                                tracing::warn!(%remote, "TLS handshake failed: {err}")
                            }
                            Err(_) => tracing::warn!(%remote, "TLS handshake timed out"),
                        }
                    });
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

fn wrap(conn: Conn, pings: Option<PingPolicy>) -> LenientAuthority<PingPoliced<Conn>> {
    LenientAuthority::new(PingPoliced::new(conn, pings))
}

/// The client certificate of `tls`, if any, against the address it came
/// from.
async fn client_san_fits<S>(
    tls: &tokio_rustls::server::TlsStream<S>,
    remote: &str,
) -> Result<(), String> {
    let Some(cert) = tls.get_ref().1.peer_certificates().and_then(|c| c.first()) else {
        return Ok(());
    };
    let Ok(remote) = remote.parse::<std::net::SocketAddr>() else {
        // A unix socket: no address to compare.
        return Ok(());
    };
    crate::tls::check_peer_client_san(cert.as_ref(), remote.ip()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::test_ca::TestCa;
    use futures::StreamExt;
    use rustls::pki_types::ServerName;
    use rustls::server::WebPkiClientVerifier;

    /// What one TLS client connection leaves: the listener's accepted
    /// connections, the client end, and the shutdown trigger to keep alive.
    type OneClient = (
        tokio_stream::wrappers::ReceiverStream<Accepted>,
        tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        crate::api::shutdown::ShutdownTrigger,
    );

    /// A TLS listener (server certificate for 127.0.0.1, client certificates
    /// of `ca` required, `check_client_san` as given) and one client with a
    /// certificate named `cn` for `client_host`, connected to it.
    async fn connect_with_client_cert(
        ca: &TestCa,
        cn: &str,
        client_host: &str,
        check_client_san: bool,
    ) -> OneClient {
        let roots = ca.roots();
        let server = ca.issue("server", "127.0.0.1");
        let client = ca.issue(cn, client_host);
        let verifier = WebPkiClientVerifier::builder(roots.clone())
            .build()
            .unwrap();
        let server_config = rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![server.cert], server.key)
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (trigger, shutdown) = crate::api::shutdown::shutdown_channel();
        let accepted = incoming_checked(
            Listener::Tcp(listener),
            Some(Arc::new(server_config)),
            Some(shutdown),
            check_client_san,
        );
        let client_config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![client.cert], client.key)
            .unwrap();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let client = connector.connect(name, tcp).await.unwrap();
        (accepted, client, trigger)
    }

    #[tokio::test]
    async fn a_verified_client_certificate_names_the_caller() {
        let ca = TestCa::new();
        let (mut accepted, _client, _trigger) =
            connect_with_client_cert(&ca, "alice", "127.0.0.1", false).await;
        let conn = accepted.next().await.unwrap().unwrap();
        let info = conn.connect_info();
        assert_eq!(info.common_name.as_deref(), Some("alice"));
        assert!(info.remote.is_some());
    }

    /// A peer whose client certificate is for another address: refused
    /// unless the check is off (etcd's
    /// `--experimental-peer-skip-client-san-verification`).
    #[tokio::test]
    async fn a_client_certificate_for_another_address_is_refused_when_checked() {
        let ca = TestCa::new();
        for check in [true, false] {
            let (mut accepted, _client, _trigger) =
                connect_with_client_cert(&ca, "peer", "10.9.9.9", check).await;
            let next =
                tokio::time::timeout(std::time::Duration::from_millis(500), accepted.next()).await;
            assert_eq!(next.is_ok(), !check, "check {check}");
        }
    }
}
