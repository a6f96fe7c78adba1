//! How etcd 3.4/3.5 name and encode what they keep in their backend: the
//! buckets, the `meta` keys, and the lease record (`leasepb.Lease`).

/// The buckets etcd 3.4, 3.5 and 3.6 create, in bbolt's (byte) order.
pub const BUCKETS: [&str; 10] = [
    "alarm",
    "auth",
    "authRoles",
    "authUsers",
    "cluster",
    "key",
    "lease",
    "members",
    "members_removed",
    "meta",
];

pub const META_CONSISTENT_INDEX: &[u8] = b"consistent_index";
pub const META_TERM: &[u8] = b"term";
pub const META_CONF_STATE: &[u8] = b"confState";
pub const META_SCHEDULED_COMPACT: &[u8] = b"scheduledCompactRev";
pub const META_FINISHED_COMPACT: &[u8] = b"finishedCompactRev";
pub const AUTH_ENABLED: &[u8] = b"authEnabled";
pub const AUTH_REVISION: &[u8] = b"authRevision";

/// `leasepb.Lease` (etcd's lease record; no generated code needed for
/// three integers).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeasePb {
    #[prost(int64, tag = "1")]
    pub id: i64,
    #[prost(int64, tag = "2")]
    pub ttl: i64,
    #[prost(int64, tag = "3")]
    pub remaining_ttl: i64,
}

/// etcd's revision key for a main revision (sub 0): 8 bytes, '_', 8 bytes.
pub fn revision_bytes(main: i64) -> Vec<u8> {
    let mut out = main.to_be_bytes().to_vec();
    out.push(b'_');
    out.extend_from_slice(&0i64.to_be_bytes());
    out
}

/// The main revision of an etcd revision key (17 bytes, or 18 marked).
pub fn revision_main(bytes: &[u8]) -> Option<i64> {
    let head: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    (bytes.len() >= 17 && bytes[8] == b'_').then(|| i64::from_be_bytes(head))
}

/// An 8-byte big-endian integer (consistent index, term, auth revision).
pub fn u64_be(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
}
