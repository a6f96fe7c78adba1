//! MVCC revisions and their LMDB key encoding.
//!
//! Big-endian fixed-width fields make byte order equal revision order, so an
//! LMDB cursor walks the `kv` database in revision order.

use super::error::{StorageError, StorageResult};

/// Length of a plain revision key: main, separator, sub.
pub const REV_KEY_LEN: usize = 8 + 1 + 8;
/// Length of a revision key carrying the tombstone mark.
pub const MARKED_REV_KEY_LEN: usize = REV_KEY_LEN + 1;

const SEPARATOR: u8 = b'_';
const TOMBSTONE_MARK: u8 = b't';

/// One change in the key space: `main` is shared by all changes of one txn,
/// `sub` orders the changes inside it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

impl Revision {
    pub fn new(main: i64, sub: i64) -> Self {
        Revision { main, sub }
    }

    /// 17 bytes: main (8, big-endian), b'_', sub (8, big-endian); +1 byte b't'
    /// when tombstone.
    pub fn to_key(self, tombstone: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(MARKED_REV_KEY_LEN);
        out.extend_from_slice(&self.main.to_be_bytes());
        out.push(SEPARATOR);
        out.extend_from_slice(&self.sub.to_be_bytes());
        if tombstone {
            out.push(TOMBSTONE_MARK);
        }
        out
    }

    /// Decodes a key written by [`Revision::to_key`]; anything else is corrupt.
    pub fn from_key(bytes: &[u8]) -> StorageResult<(Revision, bool)> {
        let tombstone = match bytes.len() {
            REV_KEY_LEN => false,
            MARKED_REV_KEY_LEN if bytes[REV_KEY_LEN] == TOMBSTONE_MARK => true,
            _ => return Err(corrupt(bytes)),
        };
        if bytes[8] != SEPARATOR {
            return Err(corrupt(bytes));
        }
        let main = be_i64(&bytes[0..8]).ok_or_else(|| corrupt(bytes))?;
        let sub = be_i64(&bytes[9..17]).ok_or_else(|| corrupt(bytes))?;
        Ok((Revision { main, sub }, tombstone))
    }
}

/// The 8-byte big-endian prefix shared by every key of main revision `main`;
/// used as a range bound when scanning by main revision only.
pub fn main_prefix(main: i64) -> [u8; 8] {
    main.to_be_bytes()
}

fn be_i64(bytes: &[u8]) -> Option<i64> {
    let arr: [u8; 8] = bytes.try_into().ok()?;
    Some(i64::from_be_bytes(arr))
}

fn corrupt(bytes: &[u8]) -> StorageError {
    StorageError::Corrupt(format!("bad revision key {bytes:02x?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_plain_and_tombstone() {
        for rev in [
            Revision::new(0, 0),
            Revision::new(1, 0),
            Revision::new(2, 7),
            Revision::new(i64::MAX, i64::MAX),
        ] {
            let k = rev.to_key(false);
            assert_eq!(k.len(), REV_KEY_LEN);
            assert_eq!(k[8], b'_');
            assert_eq!(Revision::from_key(&k).unwrap(), (rev, false));
            let t = rev.to_key(true);
            assert_eq!(t.len(), MARKED_REV_KEY_LEN);
            assert_eq!(*t.last().unwrap(), b't');
            assert_eq!(Revision::from_key(&t).unwrap(), (rev, true));
        }
    }

    #[test]
    fn exact_bytes() {
        let k = Revision::new(0x0102, 3).to_key(true);
        assert_eq!(
            k,
            vec![0, 0, 0, 0, 0, 0, 1, 2, b'_', 0, 0, 0, 0, 0, 0, 0, 3, b't']
        );
    }

    #[test]
    fn encoded_order_matches_revision_order() {
        let revs = [
            Revision::new(1, 0),
            Revision::new(1, 1),
            Revision::new(1, 255),
            Revision::new(1, 256),
            Revision::new(2, 0),
            Revision::new(255, 3),
            Revision::new(256, 0),
            Revision::new(1 << 40, 0),
        ];
        for w in revs.windows(2) {
            assert!(w[0] < w[1]);
            assert!(w[0].to_key(false) < w[1].to_key(false));
            // a tombstone mark never reorders a key past the next revision
            assert!(w[0].to_key(true) < w[1].to_key(false));
            assert!(w[0].to_key(true) < w[1].to_key(true));
        }
        // all subs of a main sort below the next main's prefix
        assert!(Revision::new(5, i64::MAX).to_key(true).as_slice() < &main_prefix(6)[..]);
        assert!(Revision::new(6, 0).to_key(false).as_slice() > &main_prefix(6)[..]);
    }

    #[test]
    fn rejects_malformed_keys() {
        assert!(Revision::from_key(&[]).is_err());
        assert!(Revision::from_key(&[0; 16]).is_err());
        let mut bad_sep = Revision::new(1, 1).to_key(false);
        bad_sep[8] = b'x';
        assert!(Revision::from_key(&bad_sep).is_err());
        let mut bad_mark = Revision::new(1, 1).to_key(true);
        bad_mark[17] = b'x';
        assert!(Revision::from_key(&bad_mark).is_err());
    }
}
