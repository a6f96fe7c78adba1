//! A client connection under the [`PingPolicy`]: the frames going both ways
//! are watched (headers only; bytes pass unchanged) and a client that pings
//! too often gets grpc-go's GOAWAY, written between two of h2's frames,
//! then the connection closes. Connections that do not start with HTTP/2's
//! preface (HTTP/1.1 on the same port) are not watched.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

use super::ping_policy::{too_many_pings_goaway, FrameScanner, PingPolicy, Strikes, PREFACE};

pub struct PingPoliced<S> {
    io: S,
    watch: Option<Box<Watch>>,
}

struct Watch {
    /// Bytes of the client preface still to see.
    preface_left: usize,
    inbound: FrameScanner,
    outbound: FrameScanner,
    strikes: Strikes,
    /// The GOAWAY to write and how much of it is written.
    goaway: Option<(Vec<u8>, usize)>,
    closed: bool,
}

impl<S> PingPoliced<S> {
    pub fn new(io: S, policy: Option<PingPolicy>) -> Self {
        let watch = policy.map(|policy| {
            Box::new(Watch {
                preface_left: PREFACE.len(),
                inbound: FrameScanner::default(),
                outbound: FrameScanner::default(),
                strikes: Strikes::new(policy),
                goaway: None,
                closed: false,
            })
        });
        PingPoliced { io, watch }
    }
}

impl Watch {
    /// Client bytes; `None` when they are not HTTP/2 after all.
    fn inbound(&mut self, mut bytes: &[u8]) -> Option<()> {
        if self.preface_left > 0 {
            let at = PREFACE.len() - self.preface_left;
            let n = self.preface_left.min(bytes.len());
            if bytes[..n] != PREFACE[at..at + n] {
                return None;
            }
            self.preface_left -= n;
            bytes = &bytes[n..];
        }
        let now = Instant::now();
        let mut too_many = false;
        let strikes = &mut self.strikes;
        self.inbound
            .feed(bytes, |frame| too_many |= strikes.inbound(frame, now));
        if too_many && self.goaway.is_none() {
            tracing::warn!("too many pings from the client, closing the connection");
            self.goaway = Some((too_many_pings_goaway(self.strikes.last_stream), 0));
        }
        Some(())
    }

    fn outbound(&mut self, bytes: &[u8]) {
        let strikes = &mut self.strikes;
        self.outbound.feed(bytes, |frame| strikes.outbound(frame));
    }
}

/// Writes the pending GOAWAY, flushes and shuts the connection down.
fn send_goaway<S: AsyncWrite + Unpin>(
    io: &mut S,
    watch: &mut Watch,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    if let Some((bytes, written)) = &mut watch.goaway {
        while *written < bytes.len() {
            let n = ready!(Pin::new(&mut *io).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
    }
    ready!(Pin::new(&mut *io).poll_flush(cx))?;
    // The peer may be gone already; the connection ends either way.
    let _ = ready!(Pin::new(&mut *io).poll_shutdown(cx));
    watch.closed = true;
    Poll::Ready(Ok(()))
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "closed: too many pings")
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for PingPoliced<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(watch) = this.watch.as_deref_mut() {
            if watch.closed {
                return Poll::Ready(Ok(()));
            }
            if watch.goaway.is_some() {
                // Mid-frame, h2 writes on and poll_write sends it.
                if watch.outbound.to_boundary() > 0 {
                    return Poll::Pending;
                }
                ready!(send_goaway(&mut this.io, watch, cx))?;
                return Poll::Ready(Ok(()));
            }
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if let Some(watch) = this.watch.as_deref_mut() {
            if watch.inbound(&buf.filled()[before..]).is_none() {
                this.watch = None;
            } else if watch.goaway.is_some() {
                // h2 gets these bytes now, the GOAWAY at its next read.
                cx.waker().wake_by_ref();
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for PingPoliced<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(watch) = this.watch.as_deref_mut() else {
            return Pin::new(&mut this.io).poll_write(cx, buf);
        };
        if watch.closed {
            return Poll::Ready(Err(closed()));
        }
        let mut buf = buf;
        if watch.goaway.is_some() {
            let left = watch.outbound.to_boundary();
            if left == 0 {
                ready!(send_goaway(&mut this.io, watch, cx))?;
                return Poll::Ready(Err(closed()));
            }
            buf = &buf[..left.min(buf.len())];
        }
        let n = ready!(Pin::new(&mut this.io).poll_write(cx, buf))?;
        watch.outbound(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.watch.as_deref_mut() {
            None => Pin::new(&mut this.io).poll_write_vectored(cx, bufs),
            Some(watch) if watch.goaway.is_none() && !watch.closed => {
                let n = ready!(Pin::new(&mut this.io).poll_write_vectored(cx, bufs))?;
                let mut left = n;
                for slice in bufs {
                    let take = left.min(slice.len());
                    watch.outbound(&slice[..take]);
                    left -= take;
                    if left == 0 {
                        break;
                    }
                }
                Poll::Ready(Ok(n))
            }
            Some(_) => {
                let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
                Pin::new(this).poll_write(cx, first)
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.watch.as_ref().is_some_and(|w| w.closed) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.watch.as_ref().is_some_and(|w| w.closed) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl<S: Connected> Connected for PingPoliced<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::super::ping_policy::{
        encode_frame as frame, ENHANCE_YOUR_CALM, PING, TOO_MANY_PINGS,
    };
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A client that pings four times at once: the server side reads them
    /// all, then the client receives the GOAWAY and the end of the stream.
    #[tokio::test]
    async fn a_ping_flood_gets_goaway_then_eof() {
        let (client, server) = tokio::io::duplex(4096);
        let policy = PingPolicy::from_flag(Duration::from_secs(5));
        let mut server = PingPoliced::new(server, Some(policy));
        let (mut client_read, mut client_write) = tokio::io::split(client);
        let mut bytes = PREFACE.to_vec();
        for _ in 0..4 {
            bytes.extend(frame(PING, 0, 0, &[0; 8]));
        }
        client_write.write_all(&bytes).await.unwrap();
        let mut got = vec![0u8; bytes.len()];
        server.read_exact(&mut got).await.unwrap();
        let mut rest = Vec::new();
        assert_eq!(server.read_to_end(&mut rest).await.unwrap(), 0);
        assert!(server.write_all(b"more").await.is_err());
        let mut goaway = Vec::new();
        client_read.read_to_end(&mut goaway).await.unwrap();
        assert_eq!(goaway[3], super::super::ping_policy::GOAWAY);
        assert_eq!(&goaway[13..17], &ENHANCE_YOUR_CALM.to_be_bytes());
        assert_eq!(&goaway[17..], TOO_MANY_PINGS);
    }

    #[tokio::test]
    async fn http1_connections_are_not_watched() {
        let (mut client, server) = tokio::io::duplex(4096);
        let policy = PingPolicy::from_flag(Duration::from_secs(5));
        let mut server = PingPoliced::new(server, Some(policy));
        client
            .write_all(b"GET /health HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"GET /health HTTP/1.1\r\n\r\n");
        assert!(server.watch.is_none());
    }
}
