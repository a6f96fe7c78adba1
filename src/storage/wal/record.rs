//! One WAL record: framing, checksums and payload codecs.
//!
//! Frame layout (all integers little-endian):
//!
//! ```text
//! 0   u32  payload length N
//! 4   u8   record kind
//! 5   u32  crc32 of the payload
//! 9   u32  crc32 of bytes 0..9 (guards the length before it is trusted)
//! 13  N bytes of payload
//! ```
//!
//! The separate header checksum means a damaged length is caught without
//! reading (or allocating) a bogus payload, and lets replay cheaply probe
//! later offsets when it has to decide whether damage is a torn tail.

use protobuf::Message;
use raft::eraftpb::{Entry, HardState, SnapshotMetadata};

use crate::storage::{StorageError, StorageResult};

/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = 13;
/// Format version stored in every segment header.
pub(crate) const FORMAT_VERSION: u8 = 1;
/// Largest payload accepted; anything bigger is treated as damage.
pub(crate) const MAX_PAYLOAD: usize = 512 << 20;

const KIND_ENTRY: u8 = 1;
const KIND_HARD_STATE: u8 = 2;
const KIND_CUT: u8 = 3;
const KIND_SEGMENT_HEADER: u8 = 4;

/// What a record says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record {
    /// A raft log entry; a lower index than the last one truncates the tail.
    Entry(Entry),
    /// The latest hard state.
    HardState(HardState),
    /// Everything up to `meta.index` is durable elsewhere. `reset` records the
    /// writer's decision that the log after the cut did not match (snapshot
    /// from a leader), so replay drops the whole tail instead of keeping it.
    Cut { reset: bool, meta: SnapshotMetadata },
    /// First record of every segment: enough state to replay it alone.
    SegmentHeader(SegmentHeader),
}

/// State carried at the start of a segment.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct SegmentHeader {
    pub seq: u64,
    pub first_index: u64,
    pub hard_state: Option<HardState>,
    pub cut: Option<SnapshotMetadata>,
}

/// Result of reading one frame from the front of a buffer.
#[derive(Debug)]
pub(crate) enum Frame<'a> {
    /// A checked frame: its kind, payload and total length on disk.
    Ok {
        kind: u8,
        payload: &'a [u8],
        len: usize,
    },
    /// The buffer ends before the frame does (header or payload cut short).
    Truncated,
    /// The header checksum does not match: length and kind are untrusted.
    BadHeader,
    /// The header is sound but the payload checksum does not match.
    BadPayload,
}

/// Reads the frame at the start of `buf` without interpreting the payload.
pub(crate) fn read_frame(buf: &[u8]) -> Frame<'_> {
    let Some(head) = buf.get(..HEADER_LEN) else {
        return Frame::Truncated;
    };
    let [l0, l1, l2, l3, kind, c0, c1, c2, c3, h0, h1, h2, h3] = *head else {
        return Frame::Truncated;
    };
    if crc32fast::hash(&head[..9]) != u32::from_le_bytes([h0, h1, h2, h3]) {
        return Frame::BadHeader;
    }
    let payload_len = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
    if payload_len > MAX_PAYLOAD {
        return Frame::BadHeader;
    }
    let len = HEADER_LEN + payload_len;
    let Some(payload) = buf.get(HEADER_LEN..len) else {
        return Frame::Truncated;
    };
    if crc32fast::hash(payload) != u32::from_le_bytes([c0, c1, c2, c3]) {
        return Frame::BadPayload;
    }
    Frame::Ok { kind, payload, len }
}

/// Appends one framed record to `out`.
#[cfg(test)]
pub(crate) fn encode(record: &Record, out: &mut Vec<u8>) -> StorageResult<()> {
    match record {
        Record::Entry(e) => encode_entry(e, out),
        Record::HardState(hs) => encode_hard_state(hs, out),
        Record::Cut { reset, meta } => encode_cut(*reset, meta, out),
        Record::SegmentHeader(h) => encode_segment_header(h, out),
    }
}

pub(crate) fn encode_entry(e: &Entry, out: &mut Vec<u8>) -> StorageResult<()> {
    frame(KIND_ENTRY, &proto_bytes(e)?, out)
}

pub(crate) fn encode_hard_state(hs: &HardState, out: &mut Vec<u8>) -> StorageResult<()> {
    frame(KIND_HARD_STATE, &proto_bytes(hs)?, out)
}

pub(crate) fn encode_cut(
    reset: bool,
    meta: &SnapshotMetadata,
    out: &mut Vec<u8>,
) -> StorageResult<()> {
    let mut p = vec![u8::from(reset)];
    p.extend_from_slice(&proto_bytes(meta)?);
    frame(KIND_CUT, &p, out)
}

pub(crate) fn encode_segment_header(h: &SegmentHeader, out: &mut Vec<u8>) -> StorageResult<()> {
    frame(KIND_SEGMENT_HEADER, &encode_header(h)?, out)
}

fn frame(kind: u8, payload: &[u8], out: &mut Vec<u8>) -> StorageResult<()> {
    if payload.len() > MAX_PAYLOAD {
        return Err(StorageError::InvalidAppend(format!(
            "record of {} bytes exceeds the {} byte limit",
            payload.len(),
            MAX_PAYLOAD
        )));
    }
    let mut head = [0u8; HEADER_LEN];
    head[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    head[4] = kind;
    head[5..9].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let head_crc = crc32fast::hash(&head[..9]);
    head[9..].copy_from_slice(&head_crc.to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(payload);
    Ok(())
}

/// Interprets a checked frame's payload.
pub(crate) fn decode(kind: u8, payload: &[u8]) -> StorageResult<Record> {
    match kind {
        KIND_ENTRY => Ok(Record::Entry(parse(payload)?)),
        KIND_HARD_STATE => Ok(Record::HardState(parse(payload)?)),
        KIND_CUT => match payload.split_first() {
            Some((&flag @ (0 | 1), rest)) => Ok(Record::Cut {
                reset: flag == 1,
                meta: parse(rest)?,
            }),
            _ => Err(corrupt("bad cut record flag")),
        },
        KIND_SEGMENT_HEADER => decode_header(payload).map(Record::SegmentHeader),
        other => Err(corrupt(&format!("unknown record kind {other}"))),
    }
}

// Header payload: version, seq, first_index, then two optional protobufs,
// each as [u8 present][u32 len][bytes].
fn encode_header(h: &SegmentHeader) -> StorageResult<Vec<u8>> {
    let mut p = vec![FORMAT_VERSION];
    p.extend_from_slice(&h.seq.to_le_bytes());
    p.extend_from_slice(&h.first_index.to_le_bytes());
    put_optional(&mut p, h.hard_state.as_ref())?;
    put_optional(&mut p, h.cut.as_ref())?;
    Ok(p)
}

fn decode_header(p: &[u8]) -> StorageResult<SegmentHeader> {
    let mut r = Reader(p);
    let version = r.take(1)?[0];
    if version != FORMAT_VERSION {
        return Err(corrupt(&format!("unsupported segment version {version}")));
    }
    let seq = r.u64()?;
    let first_index = r.u64()?;
    let hard_state = r.optional()?;
    let cut = r.optional()?;
    if !r.0.is_empty() {
        return Err(corrupt("trailing bytes in segment header"));
    }
    Ok(SegmentHeader {
        seq,
        first_index,
        hard_state,
        cut,
    })
}

fn put_optional<M: Message>(out: &mut Vec<u8>, msg: Option<&M>) -> StorageResult<()> {
    match msg {
        None => out.push(0),
        Some(m) => {
            let bytes = proto_bytes(m)?;
            out.push(1);
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(&bytes);
        }
    }
    Ok(())
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> StorageResult<&'a [u8]> {
        if self.0.len() < n {
            return Err(corrupt("segment header too short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u64(&mut self) -> StorageResult<u64> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    fn optional<M: Message>(&mut self) -> StorageResult<Option<M>> {
        match self.take(1)?[0] {
            0 => Ok(None),
            1 => {
                let mut b = [0u8; 4];
                b.copy_from_slice(self.take(4)?);
                let len = u32::from_le_bytes(b) as usize;
                parse(self.take(len)?).map(Some)
            }
            _ => Err(corrupt("bad optional marker in segment header")),
        }
    }
}

fn proto_bytes<M: Message>(m: &M) -> StorageResult<Vec<u8>> {
    m.write_to_bytes()
        .map_err(|e| StorageError::Corrupt(format!("wal: encode: {e}")))
}

fn parse<M: Message>(b: &[u8]) -> StorageResult<M> {
    M::parse_from_bytes(b).map_err(|e| corrupt(&format!("decode: {e}")))
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(format!("wal: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::eraftpb::ConfState;

    fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
        Entry {
            index,
            term,
            data: data.to_vec().into(),
            ..Default::default()
        }
    }

    fn meta(index: u64, term: u64) -> SnapshotMetadata {
        let cs = ConfState {
            voters: vec![1, 2, 3],
            ..Default::default()
        };
        SnapshotMetadata {
            index,
            term,
            conf_state: Some(cs).into(),
            ..Default::default()
        }
    }

    fn round_trip(r: &Record) -> Record {
        let mut buf = Vec::new();
        encode(r, &mut buf).unwrap();
        match read_frame(&buf) {
            Frame::Ok { kind, payload, len } => {
                assert_eq!(len, buf.len());
                decode(kind, payload).unwrap()
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn every_kind_round_trips() {
        let hs = HardState {
            term: 4,
            vote: 2,
            commit: 9,
            ..Default::default()
        };
        let records = [
            Record::Entry(entry(7, 3, b"hello")),
            Record::Entry(entry(8, 3, b"")),
            Record::HardState(hs.clone()),
            Record::Cut {
                reset: false,
                meta: meta(5, 2),
            },
            Record::Cut {
                reset: true,
                meta: meta(50, 6),
            },
            Record::SegmentHeader(SegmentHeader {
                seq: 3,
                first_index: 11,
                hard_state: Some(hs),
                cut: Some(meta(5, 2)),
            }),
            Record::SegmentHeader(SegmentHeader {
                seq: 0,
                first_index: 1,
                hard_state: None,
                cut: None,
            }),
        ];
        for r in &records {
            assert_eq!(&round_trip(r), r);
        }
    }

    #[test]
    fn frames_read_back_to_back() {
        let mut buf = Vec::new();
        for i in 1..=3 {
            encode(&Record::Entry(entry(i, 1, b"x")), &mut buf).unwrap();
        }
        let mut at = 0;
        let mut seen = Vec::new();
        while at < buf.len() {
            let Frame::Ok { kind, payload, len } = read_frame(&buf[at..]) else {
                panic!("bad frame at {at}");
            };
            let Record::Entry(e) = decode(kind, payload).unwrap() else {
                panic!("not an entry");
            };
            seen.push(e.index);
            at += len;
        }
        assert_eq!(seen, vec![1, 2, 3]);
    }

    #[test]
    fn damage_is_classified() {
        let mut buf = Vec::new();
        encode(&Record::Entry(entry(1, 1, b"payload")), &mut buf).unwrap();
        assert!(matches!(read_frame(&buf[..5]), Frame::Truncated));
        assert!(matches!(
            read_frame(&buf[..buf.len() - 1]),
            Frame::Truncated
        ));

        let mut bad_payload = buf.clone();
        let last = bad_payload.len() - 1;
        bad_payload[last] ^= 0xff;
        assert!(matches!(read_frame(&bad_payload), Frame::BadPayload));

        let mut bad_len = buf.clone();
        bad_len[0] ^= 0x01;
        assert!(matches!(read_frame(&bad_len), Frame::BadHeader));

        assert!(matches!(read_frame(&[0u8; 64]), Frame::BadHeader));
    }

    #[test]
    fn unknown_kind_and_bad_flag_are_corrupt() {
        assert!(matches!(decode(99, b""), Err(StorageError::Corrupt(_))));
        assert!(matches!(
            decode(KIND_CUT, &[7]),
            Err(StorageError::Corrupt(_))
        ));
        assert!(matches!(
            decode(KIND_SEGMENT_HEADER, &[FORMAT_VERSION, 1]),
            Err(StorageError::Corrupt(_))
        ));
    }
}
