//! Writes a bbolt database file (the format etcd's backend and `etcdctl
//! snapshot` use) from buckets of sorted key/value pairs, page by page, to
//! a file: memory holds one page and each bucket's branch keys.
//!
//! Layout: pages 0 and 1 are the meta pages (written last, once the root
//! and the page count are known), page 2 an empty freelist, then each
//! bucket's leaves and branches, then the root bucket's leaf naming them.
//! Every page is in use: bbolt's consistency check finds nothing
//! unreachable. Empty buckets are inline, as bbolt creates them.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use super::format::{
    fnv1a64, BUCKET_ELEMENT, ELEMENT, FLAG_BRANCH, FLAG_FREELIST, FLAG_LEAF, FLAG_META,
    FREELIST_PAGE, META_MAGIC, META_VERSION, PAGE_HEADER, PAGE_SIZE,
};

/// Where a finished bucket lives: a root page, or inline (empty).
#[derive(Debug, Clone, Copy)]
pub struct BucketRoot(Option<u64>);

pub struct BoltWriter {
    file: File,
    next_page: u64,
}

impl BoltWriter {
    /// Creates `path` with room for the metas and an empty freelist.
    pub fn create(path: &Path) -> io::Result<BoltWriter> {
        let mut file = File::create(path)?;
        file.write_all(&vec![0u8; 2 * PAGE_SIZE])?;
        let mut freelist = vec![0u8; PAGE_SIZE];
        page_header(&mut freelist, FREELIST_PAGE, FLAG_FREELIST, 0, 0);
        file.write_all(&freelist)?;
        Ok(BoltWriter {
            file,
            next_page: FREELIST_PAGE + 1,
        })
    }

    /// Writes one bucket from entries in strictly ascending key order.
    pub fn bucket(
        &mut self,
        entries: impl Iterator<Item = io::Result<(Vec<u8>, Vec<u8>)>>,
    ) -> io::Result<BucketRoot> {
        let mut level: Vec<(Vec<u8>, u64)> = Vec::new();
        let mut leaf: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut used = PAGE_HEADER;
        for entry in entries {
            let (key, value) = entry?;
            let size = ELEMENT + key.len() + value.len();
            if !leaf.is_empty() && used + size > PAGE_SIZE {
                level.push(self.leaf_page(&leaf, 0)?);
                leaf.clear();
                used = PAGE_HEADER;
            }
            used += size;
            leaf.push((key, value));
        }
        if !leaf.is_empty() {
            level.push(self.leaf_page(&leaf, 0)?);
        }
        if level.is_empty() {
            return Ok(BucketRoot(None));
        }
        while level.len() > 1 {
            level = self.branch_level(&level)?;
        }
        Ok(BucketRoot(Some(level[0].1)))
    }

    /// Writes the root bucket naming `buckets` (sorted by name here) and the
    /// meta pages; returns the database size (pages × page size).
    pub fn finish(mut self, mut buckets: Vec<(Vec<u8>, BucketRoot)>) -> io::Result<u64> {
        buckets.sort_by(|a, b| a.0.cmp(&b.0));
        let elements: Vec<(Vec<u8>, Vec<u8>)> = buckets
            .into_iter()
            .map(|(name, root)| (name, bucket_value(root)))
            .collect();
        let (_, root) = self.leaf_page(&elements, BUCKET_ELEMENT)?;
        let pages = self.next_page;
        for (id, txid) in [(0u64, 2u64), (1, 1)] {
            let page = meta_page(id, root, pages, txid);
            self.file.seek(SeekFrom::Start(id * PAGE_SIZE as u64))?;
            self.file.write_all(&page)?;
        }
        // Not synced: the file is streamed to a client and removed (the
        // client syncs its own copy); an fsync of a 1 GiB file here held
        // the WAL's fsyncs for half a second (docs/benchmarks.md).
        self.file.flush()?;
        Ok(pages * PAGE_SIZE as u64)
    }

    /// One leaf (over several pages if an entry needs them); its first key
    /// and page id.
    fn leaf_page(
        &mut self,
        entries: &[(Vec<u8>, Vec<u8>)],
        flags: u32,
    ) -> io::Result<(Vec<u8>, u64)> {
        let data: usize = entries
            .iter()
            .map(|(k, v)| ELEMENT + k.len() + v.len())
            .sum();
        let mut page = self.new_page(PAGE_HEADER + data, FLAG_LEAF, entries.len())?;
        let mut data_at = PAGE_HEADER + ELEMENT * entries.len();
        for (i, (key, value)) in entries.iter().enumerate() {
            let element = PAGE_HEADER + ELEMENT * i;
            put_u32(&mut page.1, element, flags);
            put_u32(&mut page.1, element + 4, (data_at - element) as u32);
            put_u32(&mut page.1, element + 8, key.len() as u32);
            put_u32(&mut page.1, element + 12, value.len() as u32);
            page.1[data_at..data_at + key.len()].copy_from_slice(key);
            data_at += key.len();
            page.1[data_at..data_at + value.len()].copy_from_slice(value);
            data_at += value.len();
        }
        self.file.write_all(&page.1)?;
        let first = entries.first().map(|(k, _)| k.clone()).unwrap_or_default();
        Ok((first, page.0))
    }

    /// Branch pages over `children` (first key, page id); the next level up.
    fn branch_level(&mut self, children: &[(Vec<u8>, u64)]) -> io::Result<Vec<(Vec<u8>, u64)>> {
        let mut up = Vec::new();
        let mut start = 0;
        while start < children.len() {
            let mut used = PAGE_HEADER;
            let mut end = start;
            while end < children.len() {
                let size = ELEMENT + children[end].0.len();
                if end > start && used + size > PAGE_SIZE {
                    break;
                }
                used += size;
                end += 1;
            }
            let group = &children[start..end];
            let (id, mut page) = self.new_page(used, FLAG_BRANCH, group.len())?;
            let mut data_at = PAGE_HEADER + ELEMENT * group.len();
            for (i, (key, child)) in group.iter().enumerate() {
                let element = PAGE_HEADER + ELEMENT * i;
                put_u32(&mut page, element, (data_at - element) as u32);
                put_u32(&mut page, element + 4, key.len() as u32);
                page[element + 8..element + 16].copy_from_slice(&child.to_le_bytes());
                page[data_at..data_at + key.len()].copy_from_slice(key);
                data_at += key.len();
            }
            self.file.write_all(&page)?;
            up.push((group[0].0.clone(), id));
            start = end;
        }
        Ok(up)
    }

    /// A zeroed page image big enough for `bytes` (whole pages), its header
    /// written; takes the next page ids.
    fn new_page(&mut self, bytes: usize, flags: u16, count: usize) -> io::Result<(u64, Vec<u8>)> {
        let pages = bytes.div_ceil(PAGE_SIZE).max(1);
        let count = u16::try_from(count)
            .map_err(|_| io::Error::other("bbolt: too many elements on one page"))?;
        let id = self.next_page;
        self.next_page += pages as u64;
        let mut page = vec![0u8; pages * PAGE_SIZE];
        page_header(&mut page, id, flags, count, (pages - 1) as u32);
        Ok((id, page))
    }
}

/// A bucket's value in its parent: its root page, or an empty inline leaf.
fn bucket_value(root: BucketRoot) -> Vec<u8> {
    let mut value = vec![0u8; 16];
    match root.0 {
        Some(page) => value[..8].copy_from_slice(&page.to_le_bytes()),
        None => {
            let mut inline = vec![0u8; PAGE_HEADER];
            page_header(&mut inline, 0, FLAG_LEAF, 0, 0);
            value.extend_from_slice(&inline);
        }
    }
    value
}

fn page_header(page: &mut [u8], id: u64, flags: u16, count: u16, overflow: u32) {
    page[0..8].copy_from_slice(&id.to_le_bytes());
    page[8..10].copy_from_slice(&flags.to_le_bytes());
    page[10..12].copy_from_slice(&count.to_le_bytes());
    page[12..16].copy_from_slice(&overflow.to_le_bytes());
}

fn put_u32(page: &mut [u8], at: usize, v: u32) {
    page[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// A meta page: magic, version, page size, the root bucket, the freelist,
/// the page count and the txid, with bbolt's FNV-1a checksum.
fn meta_page(id: u64, root: u64, pages: u64, txid: u64) -> Vec<u8> {
    let mut page = vec![0u8; PAGE_SIZE];
    page_header(&mut page, id, FLAG_META, 0, 0);
    let mut meta = Vec::with_capacity(64);
    meta.extend_from_slice(&META_MAGIC.to_le_bytes());
    meta.extend_from_slice(&META_VERSION.to_le_bytes());
    meta.extend_from_slice(&(PAGE_SIZE as u32).to_le_bytes());
    meta.extend_from_slice(&0u32.to_le_bytes()); // flags
    meta.extend_from_slice(&root.to_le_bytes()); // root bucket's page
    meta.extend_from_slice(&0u64.to_le_bytes()); // its sequence
    meta.extend_from_slice(&FREELIST_PAGE.to_le_bytes());
    meta.extend_from_slice(&pages.to_le_bytes());
    meta.extend_from_slice(&txid.to_le_bytes());
    let checksum = fnv1a64(&meta);
    meta.extend_from_slice(&checksum.to_le_bytes());
    page[PAGE_HEADER..PAGE_HEADER + meta.len()].copy_from_slice(&meta);
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_laid_out_without_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let mut w = BoltWriter::create(&path).unwrap();
        let many = (0..5000u32).map(|i| Ok((i.to_be_bytes().to_vec(), vec![1u8; 100])));
        let big = std::iter::once(Ok((b"big".to_vec(), vec![2u8; 3 * PAGE_SIZE])));
        let a = w.bucket(many).unwrap();
        let b = w.bucket(big).unwrap();
        let c = w.bucket(std::iter::empty()).unwrap();
        assert!(c.0.is_none(), "an empty bucket is inline");
        let size = w
            .finish(vec![
                (b"a".to_vec(), a),
                (b"b".to_vec(), b),
                (b"c".to_vec(), c),
            ])
            .unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
        let bytes = std::fs::read(&path).unwrap();
        let meta = &bytes[PAGE_HEADER..PAGE_HEADER + 64];
        assert_eq!(
            u32::from_le_bytes(meta[0..4].try_into().unwrap()),
            META_MAGIC
        );
        let pages = u64::from_le_bytes(meta[40..48].try_into().unwrap());
        assert_eq!(pages * PAGE_SIZE as u64, size);
        assert_eq!(
            u64::from_le_bytes(meta[56..64].try_into().unwrap()),
            fnv1a64(&meta[..56])
        );
    }
}
