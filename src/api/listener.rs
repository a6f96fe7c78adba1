//! Listening sockets of either kind etcd serves: TCP for `http(s)://` URLs
//! and a Unix socket file for `unix(s)://` URLs, and the streams they
//! accept. Everything above (TLS, HTTP/2, gRPC) is the same for both.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::config::BindAddr;

/// A socket bound at boot (so a busy address fails the boot cleanly), not
/// yet handed to the async runtime.
pub enum BoundListener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl BoundListener {
    /// Binds `addr`. As etcd does, a file left at a Unix socket's path (by
    /// an earlier run) is removed first.
    pub fn bind(addr: &BindAddr) -> io::Result<BoundListener> {
        let bound = match addr {
            BindAddr::Tcp(addr) => BoundListener::Tcp(std::net::TcpListener::bind(addr)?),
            BindAddr::Unix(path) => {
                match std::fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                BoundListener::Unix(std::os::unix::net::UnixListener::bind(path)?)
            }
        };
        match &bound {
            BoundListener::Tcp(l) => l.set_nonblocking(true)?,
            BoundListener::Unix(l) => l.set_nonblocking(true)?,
        }
        Ok(bound)
    }

    /// The bound address, for logs (`127.0.0.1:2379`, `unix:etcd.sock:1`).
    pub fn describe(&self) -> String {
        match self {
            BoundListener::Tcp(l) => l
                .local_addr()
                .map_or_else(|_| "tcp".to_string(), |a| a.to_string()),
            BoundListener::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
                .unwrap_or_else(|| "unix".to_string()),
        }
    }

    /// Hands the socket to the current tokio runtime.
    pub fn into_tokio(self) -> io::Result<Listener> {
        Ok(match self {
            BoundListener::Tcp(l) => Listener::Tcp(TcpListener::from_std(l)?),
            BoundListener::Unix(l) => Listener::Unix(UnixListener::from_std(l)?),
        })
    }
}

/// A listening socket on the runtime.
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// The next connection, with Nagle off on TCP (gRPC writes small frames
    /// and waits for answers), and the remote end for logs.
    pub async fn accept(&self) -> io::Result<(Stream, String)> {
        match self {
            Listener::Tcp(l) => {
                let (tcp, remote) = l.accept().await?;
                if let Err(err) = tcp.set_nodelay(true) {
                    tracing::debug!(%remote, "set_nodelay: {err}");
                }
                Ok((Stream::Tcp(tcp), remote.to_string()))
            }
            Listener::Unix(l) => {
                let (unix, _) = l.accept().await?;
                Ok((Stream::Unix(unix), "unix socket peer".to_string()))
            }
        }
    }
}

/// An accepted (or dialled) connection.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// The remote address of a TCP connection.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match self {
            Stream::Tcp(s) => s.peer_addr().ok(),
            Stream::Unix(_) => None,
        }
    }
}

macro_rules! both {
    ($self:expr, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Tcp($s) => $e,
            Stream::Unix($s) => $e,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        both!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        both!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        both!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        both!(self, s => Pin::new(s).poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        both!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Unix(s) => s.is_write_vectored(),
        }
    }
}
