//! `--grpc-keepalive-min-time`: how often a client may ping, enforced the
//! way grpc-go (and so etcd) enforces it. A ping that comes sooner than
//! allowed after the previous one is a strike; the third strike gets the
//! connection a GOAWAY with ENHANCE_YOUR_CALM and "too_many_pings", then it
//! is closed. While no RPC is open a client should not ping at all (etcd
//! does not permit pings without streams): the allowance is then two hours.
//! A response the server writes (headers or data) wipes the strikes.
//!
//! h2 answers pings itself and has no such policy, so the policy watches
//! the frames going by: [`FrameScanner`] finds the frame headers in the
//! byte stream, [`Strikes`] keeps score.

use std::collections::HashSet;
use std::time::{Duration, Instant};

/// What every HTTP/2 client sends first.
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types and flags the policy looks at.
pub(crate) const DATA: u8 = 0x0;
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const RST_STREAM: u8 = 0x3;
pub(crate) const PING: u8 = 0x6;
pub(crate) const GOAWAY: u8 = 0x7;
const ACK: u8 = 0x1;
const END_STREAM: u8 = 0x1;
/// HTTP/2's error code for a peer that generates excessive load.
pub(crate) const ENHANCE_YOUR_CALM: u32 = 0xb;
pub(crate) const TOO_MANY_PINGS: &[u8] = b"too_many_pings";

/// Strikes a client may have; one more closes the connection (grpc-go's).
const MAX_STRIKES: u32 = 2;
/// The allowance between pings while no stream is open.
const IDLE_ALLOWANCE: Duration = Duration::from_secs(2 * 60 * 60);
/// grpc-go's minimum when etcd's flag is 0 (no policy of etcd's own).
const GRPC_DEFAULT_MIN_TIME: Duration = Duration::from_secs(5 * 60);

/// The client ping policy of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingPolicy {
    pub min_time: Duration,
}

impl PingPolicy {
    /// etcd's `--grpc-keepalive-min-time`; 0 leaves grpc-go's default.
    pub fn from_flag(min_time: Duration) -> Self {
        let min_time = if min_time.is_zero() {
            GRPC_DEFAULT_MIN_TIME
        } else {
            min_time
        };
        PingPolicy { min_time }
    }
}

/// One HTTP/2 frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub len: usize,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

impl FrameHeader {
    fn parse(b: &[u8; 9]) -> Self {
        FrameHeader {
            len: (b[0] as usize) << 16 | (b[1] as usize) << 8 | b[2] as usize,
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }
}

/// Finds frame headers in a byte stream that arrives in pieces.
#[derive(Debug, Default)]
pub(crate) struct FrameScanner {
    header: [u8; 9],
    have: usize,
    payload_left: usize,
}

impl FrameScanner {
    /// Feeds `bytes`; `on_header` sees every frame header completed by them.
    pub fn feed(&mut self, mut bytes: &[u8], mut on_header: impl FnMut(FrameHeader)) {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len());
                self.payload_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (9 - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have == 9 {
                self.have = 0;
                let header = FrameHeader::parse(&self.header);
                self.payload_left = header.len;
                on_header(header);
            }
        }
    }

    /// How many bytes end the frame being passed (0: between frames); a
    /// partly seen header counts up to its end.
    pub fn to_boundary(&self) -> usize {
        if self.have > 0 {
            9 - self.have
        } else {
            self.payload_left
        }
    }
}

/// The score of one connection.
#[derive(Debug)]
pub(crate) struct Strikes {
    policy: PingPolicy,
    last_ping: Option<Instant>,
    strikes: u32,
    /// The server wrote headers or data since the last ping.
    wipe: bool,
    open: HashSet<u32>,
    /// The newest stream the client opened (for GOAWAY).
    pub last_stream: u32,
}

impl Strikes {
    pub fn new(policy: PingPolicy) -> Self {
        Strikes {
            policy,
            last_ping: None,
            strikes: 0,
            wipe: false,
            open: HashSet::new(),
            last_stream: 0,
        }
    }

    /// A frame from the client; true when it is one ping too many.
    pub fn inbound(&mut self, frame: FrameHeader, now: Instant) -> bool {
        match frame.kind {
            HEADERS if frame.stream > self.last_stream => {
                self.last_stream = frame.stream;
                self.open.insert(frame.stream);
            }
            RST_STREAM => {
                self.open.remove(&frame.stream);
            }
            PING if frame.flags & ACK == 0 => return self.ping(now),
            _ => {}
        }
        false
    }

    /// A frame from the server.
    pub fn outbound(&mut self, frame: FrameHeader) {
        match frame.kind {
            HEADERS | DATA => {
                self.wipe = true;
                if frame.flags & END_STREAM != 0 {
                    self.open.remove(&frame.stream);
                }
            }
            RST_STREAM => {
                self.open.remove(&frame.stream);
            }
            _ => {}
        }
    }

    fn ping(&mut self, now: Instant) -> bool {
        let last = self.last_ping.replace(now);
        if std::mem::take(&mut self.wipe) {
            self.strikes = 0;
            return false;
        }
        let allowance = if self.open.is_empty() {
            IDLE_ALLOWANCE
        } else {
            self.policy.min_time
        };
        if last.is_some_and(|last| now.duration_since(last) < allowance) {
            self.strikes += 1;
        }
        self.strikes > MAX_STRIKES
    }
}

/// The GOAWAY frame that ends a connection that pinged too often.
pub(crate) fn too_many_pings_goaway(last_stream: u32) -> Vec<u8> {
    let len = 8 + TOO_MANY_PINGS.len();
    let mut frame = Vec::with_capacity(9 + len);
    frame.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    frame.extend_from_slice(&[GOAWAY, 0, 0, 0, 0, 0]);
    frame.extend_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
    frame.extend_from_slice(&ENHANCE_YOUR_CALM.to_be_bytes());
    frame.extend_from_slice(TOO_MANY_PINGS);
    frame
}

/// One frame as bytes (tests build client streams with it).
#[cfg(test)]
pub(crate) fn encode_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32) -> FrameHeader {
        FrameHeader {
            len: 0,
            kind,
            flags,
            stream,
        }
    }

    fn policy(ms: u64) -> Strikes {
        Strikes::new(PingPolicy::from_flag(Duration::from_millis(ms)))
    }

    /// Pings `n` times `gap` apart; the index of the one found too many.
    fn ping_every(s: &mut Strikes, start: Instant, gap: Duration, n: u32) -> Option<u32> {
        (0..n).find(|&i| s.inbound(frame(PING, 0, 0), start + gap * i))
    }

    #[test]
    fn the_fourth_fast_ping_is_one_too_many() {
        let mut s = policy(1000);
        s.inbound(frame(HEADERS, 0x4, 1), Instant::now());
        let t = Instant::now();
        assert_eq!(
            ping_every(&mut s, t, Duration::from_millis(10), 10),
            Some(3)
        );
    }

    #[test]
    fn pings_slower_than_the_minimum_are_fine_while_a_stream_is_open() {
        let mut s = policy(100);
        s.inbound(frame(HEADERS, 0x4, 1), Instant::now());
        let t = Instant::now();
        assert_eq!(ping_every(&mut s, t, Duration::from_millis(150), 20), None);
    }

    #[test]
    fn without_an_open_stream_any_repeated_ping_strikes() {
        let mut s = policy(100);
        let t = Instant::now();
        assert_eq!(ping_every(&mut s, t, Duration::from_secs(60), 10), Some(3));
        // A stream that ended is no longer open.
        let mut s = policy(100);
        s.inbound(frame(HEADERS, 0x4, 1), t);
        s.outbound(frame(HEADERS, 0x5, 1));
        assert_eq!(ping_every(&mut s, t, Duration::from_secs(60), 10), Some(3));
    }

    #[test]
    fn server_output_wipes_the_strikes_and_acks_never_count() {
        let mut s = policy(1000);
        let t = Instant::now();
        for i in 0..20 {
            s.outbound(frame(DATA, 0, 1));
            assert!(!s.inbound(frame(PING, 0, 0), t + Duration::from_millis(i)));
            assert!(!s.inbound(frame(PING, ACK, 0), t + Duration::from_millis(i)));
        }
    }

    #[test]
    fn zero_means_grpc_go_default() {
        assert_eq!(
            PingPolicy::from_flag(Duration::ZERO).min_time,
            Duration::from_secs(300)
        );
    }

    #[test]
    fn the_scanner_finds_headers_across_any_split() {
        let mut bytes = Vec::new();
        for (kind, payload) in [(HEADERS, 5usize), (PING, 8), (DATA, 0), (GOAWAY, 20)] {
            bytes.extend_from_slice(&(payload as u32).to_be_bytes()[1..]);
            bytes.extend_from_slice(&[kind, 0, 0, 0, 0, 1]);
            bytes.extend(std::iter::repeat_n(0xaa, payload));
        }
        for chunk in 1..bytes.len() {
            let mut scanner = FrameScanner::default();
            let mut kinds = Vec::new();
            for piece in bytes.chunks(chunk) {
                scanner.feed(piece, |h| kinds.push(h.kind));
            }
            assert_eq!(kinds, vec![HEADERS, PING, DATA, GOAWAY], "chunk {chunk}");
            assert_eq!(scanner.to_boundary(), 0);
        }
    }

    #[test]
    fn the_goaway_says_too_many_pings() {
        let goaway = too_many_pings_goaway(7);
        let mut scanner = FrameScanner::default();
        let mut seen = None;
        scanner.feed(&goaway, |h| seen = Some(h));
        assert_eq!(
            seen,
            Some(FrameHeader {
                len: 22,
                kind: GOAWAY,
                flags: 0,
                stream: 0
            })
        );
        assert_eq!(&goaway[9..13], &7u32.to_be_bytes());
        assert_eq!(&goaway[13..17], &ENHANCE_YOUR_CALM.to_be_bytes());
        assert_eq!(&goaway[17..], TOO_MANY_PINGS);
    }
}
