//! bbolt's on-disk constants, shared by the writer and the reader. All
//! integers in a bbolt file are little-endian (the files etcd writes on
//! x86-64 and arm64).

/// etcd's (and the usual OS) page size; what oxcd writes.
pub const PAGE_SIZE: usize = 4096;
/// id u64, flags u16, count u16, overflow u32.
pub const PAGE_HEADER: usize = 16;
/// A leaf element (flags, pos, ksize, vsize) or a branch element (pos,
/// ksize, pgid): 16 bytes either way.
pub const ELEMENT: usize = 16;
pub const META_MAGIC: u32 = 0xED0C_DAED;
pub const META_VERSION: u32 = 2;
pub const FLAG_BRANCH: u16 = 0x01;
pub const FLAG_LEAF: u16 = 0x02;
pub const FLAG_META: u16 = 0x04;
pub const FLAG_FREELIST: u16 = 0x10;
/// A leaf element that is a bucket.
pub const BUCKET_ELEMENT: u32 = 0x01;
/// Where oxcd's files keep their (empty) freelist.
pub const FREELIST_PAGE: u64 = 2;

/// FNV-1a, 64 bits: bbolt's meta page checksum.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }
}
