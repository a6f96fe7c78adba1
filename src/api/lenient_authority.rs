//! Some etcd clients send an `:authority` that is not an authority:
//! etcdctl 3.4's `--cluster` commands send a member's client URL
//! ("http://host:port"), and clientv3 3.5.0 to 3.5.9 send
//! "#initially=[...]" with several endpoints. etcd's Go server accepts
//! them; h2 resets such a stream with PROTOCOL_ERROR. This wrapper sits
//! between a client socket and h2 and repairs the value on the way in.
//!
//! HPACK compresses header blocks against a table both ends keep in step,
//! so a block cannot be changed alone: a connection whose first request
//! needs the repair has every later header block decoded (mirroring the
//! client's table) and encoded afresh (building a table h2 mirrors). Every
//! other connection is handed to h2 untouched from its first request on.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::uri::Authority;
use loona_hpack::{Decoder, Encoder};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

use super::ping_policy::PREFACE;
const FRAME_HEADER: usize = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// HTTP/2's default (and h2's) largest frame payload.
const MAX_FRAME: usize = 16_384;

pub struct LenientAuthority<S> {
    io: S,
    mode: Mode,
    /// Bytes read from the socket, not yet a whole frame.
    inbound: Vec<u8>,
    /// Bytes ready for h2, from `ready_at` on.
    ready: Vec<u8>,
    ready_at: usize,
}

enum Mode {
    /// Before the client's connection preface.
    Preface,
    /// Waiting for the first header block.
    Sniff,
    /// Every header block is re-encoded.
    Rewrite(Box<Rewriter>),
    /// Bytes go to h2 as they come.
    Pass,
}

struct Rewriter {
    decoder: Decoder<'static>,
    encoder: Encoder<'static>,
    /// A header block split over HEADERS and CONTINUATION frames.
    block: Vec<u8>,
    stream: [u8; 4],
    end_stream: bool,
}

impl<S> LenientAuthority<S> {
    pub fn new(io: S) -> Self {
        LenientAuthority {
            io,
            mode: Mode::Preface,
            inbound: Vec::new(),
            ready: Vec::new(),
            ready_at: 0,
        }
    }

    /// Moves every whole frame of `inbound` to `ready`, repaired as needed.
    fn process(&mut self) -> io::Result<()> {
        loop {
            match self.mode {
                Mode::Pass => {
                    self.ready.append(&mut self.inbound);
                    return Ok(());
                }
                Mode::Preface => {
                    let seen = self.inbound.len().min(PREFACE.len());
                    if self.inbound[..seen] != PREFACE[..seen] {
                        self.mode = Mode::Pass; // not HTTP/2 with prior knowledge
                        continue;
                    }
                    if seen < PREFACE.len() {
                        return Ok(());
                    }
                    self.ready.extend(self.inbound.drain(..PREFACE.len()));
                    self.mode = Mode::Sniff;
                }
                Mode::Sniff | Mode::Rewrite(_) => {
                    if self.inbound.len() < FRAME_HEADER {
                        return Ok(());
                    }
                    let len =
                        u32::from_be_bytes([0, self.inbound[0], self.inbound[1], self.inbound[2]])
                            as usize;
                    if self.inbound.len() < FRAME_HEADER + len {
                        return Ok(());
                    }
                    let frame: Vec<u8> = self.inbound.drain(..FRAME_HEADER + len).collect();
                    self.on_frame(frame)?;
                }
            }
        }
    }

    fn on_frame(&mut self, frame: Vec<u8>) -> io::Result<()> {
        let (kind, flags) = (frame[3], frame[4]);
        let mut stream = [0u8; 4];
        stream.copy_from_slice(&frame[5..FRAME_HEADER]);
        match &mut self.mode {
            Mode::Sniff if kind == HEADERS => {
                let fragment = header_fragment(&frame, flags);
                let mut decoder = Decoder::new();
                let decoded = match fragment {
                    Some(fragment) if flags & END_HEADERS != 0 => decoder.decode(fragment).ok(),
                    _ => None,
                };
                let needs_repair = decoded
                    .as_ref()
                    .is_some_and(|headers| authority_needs_repair(headers));
                let Some(headers) = decoded.filter(|_| needs_repair) else {
                    // Fine, or beyond this wrapper: h2 judges it as sent.
                    self.ready.extend_from_slice(&frame);
                    self.mode = Mode::Pass;
                    return Ok(());
                };
                let mut rewriter = Box::new(Rewriter {
                    decoder,
                    encoder: Encoder::new(),
                    block: Vec::new(),
                    stream,
                    end_stream: flags & END_STREAM != 0,
                });
                rewriter.emit(headers, &mut self.ready);
                self.mode = Mode::Rewrite(rewriter);
            }
            Mode::Rewrite(rewriter) if kind == HEADERS || kind == CONTINUATION => {
                if kind == HEADERS {
                    rewriter.block.clear();
                    rewriter.stream = stream;
                    rewriter.end_stream = flags & END_STREAM != 0;
                }
                let fragment = if kind == HEADERS {
                    header_fragment(&frame, flags)
                } else {
                    Some(&frame[FRAME_HEADER..])
                };
                let fragment = fragment.ok_or_else(|| bad("malformed HEADERS frame"))?;
                rewriter.block.extend_from_slice(fragment);
                if flags & END_HEADERS != 0 {
                    let block = std::mem::take(&mut rewriter.block);
                    let headers = rewriter
                        .decoder
                        .decode(&block)
                        .map_err(|e| bad(&format!("header block: {e:?}")))?;
                    rewriter.emit(headers, &mut self.ready);
                }
            }
            _ => self.ready.extend_from_slice(&frame),
        }
        Ok(())
    }
}

impl Rewriter {
    /// Encodes `headers` (authority repaired) as HEADERS + CONTINUATION
    /// frames for the current stream.
    fn emit(&mut self, mut headers: Vec<(Vec<u8>, Vec<u8>)>, out: &mut Vec<u8>) {
        for (name, value) in headers.iter_mut() {
            if name.as_slice() == b":authority" && Authority::try_from(value.as_slice()).is_err() {
                *value = repaired_authority(value);
            }
        }
        let block = self
            .encoder
            .encode(headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
        let chunks: Vec<&[u8]> = if block.is_empty() {
            vec![&[]]
        } else {
            block.chunks(MAX_FRAME).collect()
        };
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.into_iter().enumerate() {
            let (kind, mut flags) = if i == 0 {
                (HEADERS, if self.end_stream { END_STREAM } else { 0 })
            } else {
                (CONTINUATION, 0)
            };
            if i == last {
                flags |= END_HEADERS;
            }
            let len = (chunk.len() as u32).to_be_bytes();
            out.extend_from_slice(&len[1..]);
            out.extend_from_slice(&[kind, flags]);
            out.extend_from_slice(&self.stream);
            out.extend_from_slice(chunk);
        }
    }
}

/// The header block fragment of a HEADERS frame, without padding and
/// priority fields.
fn header_fragment(frame: &[u8], flags: u8) -> Option<&[u8]> {
    let mut payload = &frame[FRAME_HEADER..];
    let mut pad = 0;
    if flags & PADDED != 0 {
        pad = *payload.first()? as usize;
        payload = &payload[1..];
    }
    if flags & PRIORITY != 0 {
        payload = payload.get(5..)?;
    }
    payload.get(..payload.len().checked_sub(pad)?)
}

fn authority_needs_repair(headers: &[(Vec<u8>, Vec<u8>)]) -> bool {
    headers.iter().any(|(name, value)| {
        name.as_slice() == b":authority" && Authority::try_from(value.as_slice()).is_err()
    })
}

/// The host:port inside what a client sent ("http://h:p", "#initially=[
/// http://h:p;...]"), or "localhost"; oxcd itself never reads it.
fn repaired_authority(value: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(value);
    let after_scheme = text.split_once("://").map_or(&*text, |(_, rest)| rest);
    let host = after_scheme
        .split(['/', ';', ',', ']'])
        .next()
        .unwrap_or_default();
    if !host.is_empty() && Authority::try_from(host).is_ok() {
        host.as_bytes().to_vec()
    } else {
        b"localhost".to_vec()
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl<S: AsyncRead + Unpin> AsyncRead for LenientAuthority<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.ready_at < this.ready.len() {
                let n = buf.remaining().min(this.ready.len() - this.ready_at);
                buf.put_slice(&this.ready[this.ready_at..this.ready_at + n]);
                this.ready_at += n;
                if this.ready_at == this.ready.len() {
                    this.ready.clear();
                    this.ready_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if matches!(this.mode, Mode::Pass) && this.inbound.is_empty() {
                return Pin::new(&mut this.io).poll_read(cx, buf);
            }
            let mut chunk = [0u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                if this.inbound.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                // The peer closed mid-frame: h2 sees what there was.
                this.ready.append(&mut this.inbound);
                continue;
            }
            this.inbound.extend_from_slice(read.filled());
            this.process()?;
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LenientAuthority<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl<S: Connected> Connected for LenientAuthority<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    type Headers = Vec<(Vec<u8>, Vec<u8>)>;

    fn request(authority: &str, path: &str) -> Headers {
        [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ]
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
    }

    use super::super::ping_policy::encode_frame as frame;

    /// What a client sends: the preface, SETTINGS, then one HEADERS and one
    /// DATA frame per request, all header blocks from one encoder.
    fn client_bytes(requests: &[Headers]) -> Vec<u8> {
        let mut encoder = Encoder::new();
        let mut out = PREFACE.to_vec();
        out.extend(frame(0x4, 0, 0, &[]));
        for (i, headers) in requests.iter().enumerate() {
            let stream = 1 + 2 * i as u32;
            let block = encoder.encode(headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
            out.extend(frame(HEADERS, END_HEADERS, stream, &block));
            out.extend(frame(0x0, END_STREAM, stream, b"\0\0\0\0\0"));
        }
        out
    }

    /// Reads everything through the wrapper, in small pieces.
    async fn through_wrapper(bytes: Vec<u8>) -> Vec<u8> {
        let (mut client, server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for piece in bytes.chunks(7) {
                client.write_all(piece).await.unwrap();
            }
        });
        let mut out = Vec::new();
        LenientAuthority::new(server)
            .read_to_end(&mut out)
            .await
            .unwrap();
        writer.await.unwrap();
        out
    }

    /// The header lists h2 would decode from `bytes`, and the other frames.
    fn decode_as_h2(bytes: &[u8]) -> (Vec<Headers>, Vec<Vec<u8>>) {
        assert!(bytes.starts_with(PREFACE));
        let mut rest = &bytes[PREFACE.len()..];
        let mut decoder = Decoder::new();
        let (mut blocks, mut others) = (Vec::new(), Vec::new());
        while !rest.is_empty() {
            let len = u32::from_be_bytes([0, rest[0], rest[1], rest[2]]) as usize;
            let (f, tail) = rest.split_at(FRAME_HEADER + len);
            if f[3] == HEADERS {
                assert_ne!(f[4] & END_HEADERS, 0);
                blocks.push(decoder.decode(&f[FRAME_HEADER..]).unwrap());
            } else {
                others.push(f.to_vec());
            }
            rest = tail;
        }
        (blocks, others)
    }

    #[tokio::test]
    async fn a_url_as_authority_is_repaired_on_every_request_of_the_connection() {
        let requests: Vec<Headers> = (0..4)
            .map(|i| {
                request(
                    "http://127.0.0.1:2379",
                    &format!("/etcdserverpb.KV/Range{i}"),
                )
            })
            .collect();
        let sent = client_bytes(&requests);
        let (blocks, others) = decode_as_h2(&through_wrapper(sent.clone()).await);
        let (_, sent_others) = decode_as_h2(&sent);
        assert_eq!(others, sent_others, "other frames pass unchanged");
        assert_eq!(blocks.len(), 4);
        for (i, block) in blocks.iter().enumerate() {
            let expected = request("127.0.0.1:2379", &format!("/etcdserverpb.KV/Range{i}"));
            assert_eq!(block, &expected, "request {i}");
        }
    }

    #[tokio::test]
    async fn clientv3_initially_authority_becomes_its_first_endpoint() {
        let authority = "#initially=[http://10.0.0.1:2379;http://10.0.0.2:2379]";
        let sent = client_bytes(&[request(authority, "/p")]);
        let (blocks, _) = decode_as_h2(&through_wrapper(sent).await);
        assert_eq!(blocks, vec![request("10.0.0.1:2379", "/p")]);
    }

    #[tokio::test]
    async fn well_formed_connections_pass_byte_for_byte() {
        let sent = client_bytes(&[
            request("127.0.0.1:2379", "/a"),
            request("127.0.0.1:2379", "/b"),
        ]);
        assert_eq!(through_wrapper(sent.clone()).await, sent);
        let http1 = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        assert_eq!(through_wrapper(http1.clone()).await, http1);
    }

    #[test]
    fn repair_keeps_host_and_port_or_falls_back() {
        assert_eq!(repaired_authority(b"https://h:1/x"), b"h:1");
        assert_eq!(repaired_authority(b"unix:///tmp/sock"), b"localhost");
        assert_eq!(repaired_authority(b"#initially=[]"), b"localhost");
    }

    #[test]
    fn padded_and_prioritised_fragments_are_found() {
        let mut payload = vec![2u8]; // pad length
        payload.extend_from_slice(&[0, 0, 0, 0, 16]); // priority
        payload.extend_from_slice(b"blk");
        payload.extend_from_slice(&[0, 0]);
        let f = frame(HEADERS, PADDED | PRIORITY, 1, &payload);
        assert_eq!(header_fragment(&f, PADDED | PRIORITY), Some(&b"blk"[..]));
        let short = frame(HEADERS, PADDED, 1, &[9, 1]);
        assert_eq!(header_fragment(&short, PADDED), None);
    }
}
