//! Reads a bbolt database file (etcd's backend, or a snapshot of it) page
//! by page with positioned reads: memory holds the pages on the path from
//! a bucket's root to the current leaf.
//!
//! Every page is checked as it is read (its id, its kind, its elements
//! inside it, keys ascending), so a truncated or damaged file gives an
//! error naming the page, never a panic or a wrong answer. The freelist is
//! not read: a reader only follows the trees.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::storage::StorageError;

use super::format::{
    fnv1a64, BUCKET_ELEMENT, ELEMENT, FLAG_BRANCH, FLAG_LEAF, META_MAGIC, META_VERSION, PAGE_HEADER,
};

/// Why a file could not be read as a bbolt database.
#[derive(Debug, thiserror::Error)]
pub enum BoltError {
    #[error("not a bbolt database: {0}")]
    NotBolt(String),
    #[error("truncated bbolt database: {0}")]
    Truncated(String),
    #[error("damaged bbolt database: {0}")]
    Damaged(String),
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A record inside a well-formed file that its reader refused.
    #[error("{0}")]
    Record(String),
}

pub type BoltResult<T> = Result<T, BoltError>;

impl From<BoltError> for StorageError {
    fn from(err: BoltError) -> StorageError {
        StorageError::Snapshot(err.to_string())
    }
}

/// Called with each key and value of a bucket.
pub type EntryFn<'f> = dyn FnMut(&[u8], &[u8]) -> BoltResult<()> + 'f;
/// Called with each element of a leaf: key, value, element flags.
type ElementFn<'f> = dyn FnMut(&[u8], &[u8], u32) -> BoltResult<()> + 'f;

/// Where a bucket's entries live.
#[derive(Debug, Clone)]
pub enum BucketRef {
    Page(u64),
    /// A small bucket stored inside its parent's value: a leaf page image.
    Inline(Vec<u8>),
}

pub struct BoltReader {
    file: File,
    page_size: usize,
    pages: u64,
    root: u64,
}

impl BoltReader {
    /// Opens `path` and checks its meta pages; `data_len` is how much of
    /// the file is the database (a snapshot's SHA-256 trailer follows it).
    pub fn open(path: &Path, data_len: u64) -> BoltResult<BoltReader> {
        let file = File::open(path)?;
        let mut first = vec![0u8; 4096];
        let got = read_up_to(&file, 0, &mut first)?;
        first.truncate(got);
        let meta0 = parse_meta(&first, 0);
        // The second meta sits one page in: its page size is the first's
        // (when readable) or one of those bbolt allows.
        let mut candidates = Vec::new();
        if let Ok(m) = &meta0 {
            candidates.push(m.page_size);
        }
        candidates.extend([4096usize, 8192, 16384, 65536]);
        let mut meta1 = Err(String::from("unreadable"));
        for size in candidates {
            let mut page = vec![0u8; 4096.min(size)];
            let got = read_up_to(&file, size as u64, &mut page)?;
            page.truncate(got);
            meta1 = parse_meta(&page, 1).and_then(|m| {
                if m.page_size == size {
                    Ok(m)
                } else {
                    Err("page size does not match its place".into())
                }
            });
            if meta1.is_ok() {
                break;
            }
        }
        let meta = match (meta0, meta1) {
            (Ok(a), Ok(b)) => {
                if a.txid >= b.txid {
                    a
                } else {
                    b
                }
            }
            (Ok(m), Err(_)) | (Err(_), Ok(m)) => m,
            (Err(a), Err(_)) => return Err(BoltError::NotBolt(a)),
        };
        let needed = meta.pages.saturating_mul(meta.page_size as u64);
        if data_len < needed {
            return Err(BoltError::Truncated(format!(
                "it holds {} pages of {} bytes ({needed} bytes) but the file has {data_len}",
                meta.pages, meta.page_size
            )));
        }
        let reader = BoltReader {
            file,
            page_size: meta.page_size,
            pages: meta.pages,
            root: meta.root,
        };
        if meta.root >= meta.pages || meta.root < 2 {
            return Err(reader.damaged(meta.root, "the root bucket is outside the file"));
        }
        Ok(reader)
    }

    /// The database's size: pages × page size (what `snapshot status`
    /// reports).
    pub fn size(&self) -> u64 {
        self.pages * self.page_size as u64
    }

    /// The top-level buckets, in name order. A plain key/value at the top
    /// level is an error (bbolt allows none).
    pub fn buckets(&self) -> BoltResult<Vec<(Vec<u8>, BucketRef)>> {
        let mut out = Vec::new();
        self.for_each_element(&BucketRef::Page(self.root), &mut |key, value, flags| {
            if flags & BUCKET_ELEMENT == 0 {
                return Err(BoltError::Damaged(format!(
                    "top-level key {:?} is not a bucket",
                    String::from_utf8_lossy(key)
                )));
            }
            out.push((key.to_vec(), bucket_ref(key, value)?));
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f` for every key/value of `bucket` in key order; a nested
    /// bucket is an error (etcd writes none).
    pub fn for_each(&self, bucket: &BucketRef, f: &mut EntryFn<'_>) -> BoltResult<()> {
        self.for_each_element(bucket, &mut |key, value, flags| {
            if flags & BUCKET_ELEMENT != 0 {
                return Err(BoltError::Damaged(format!(
                    "nested bucket {:?} (etcd writes none)",
                    String::from_utf8_lossy(key)
                )));
            }
            f(key, value)
        })
    }

    fn for_each_element(&self, bucket: &BucketRef, f: &mut ElementFn<'_>) -> BoltResult<()> {
        let mut last: Option<Vec<u8>> = None;
        match bucket {
            BucketRef::Inline(page) => leaf_elements(page, 0, &mut last, f),
            BucketRef::Page(id) => self.walk(*id, 0, &mut last, f),
        }
    }

    fn walk(
        &self,
        id: u64,
        depth: usize,
        last: &mut Option<Vec<u8>>,
        f: &mut ElementFn<'_>,
    ) -> BoltResult<()> {
        // A loop in the tree would recurse for ever; real trees are shallow.
        if depth > 64 {
            return Err(self.damaged(id, "the tree is deeper than 64 levels"));
        }
        let page = self.page(id)?;
        match flags_of(&page) {
            FLAG_LEAF => leaf_elements(&page, id, last, f),
            FLAG_BRANCH => {
                for child in branch_children(&page, id)? {
                    if child < 2 || child >= self.pages {
                        return Err(self.damaged(id, "a child page is outside the file"));
                    }
                    self.walk(child, depth + 1, last, f)?;
                }
                Ok(())
            }
            other => Err(self.damaged(
                id,
                &format!("a tree page has flags {other:#x} (neither branch nor leaf)"),
            )),
        }
    }

    /// Reads page `id` with its overflow pages.
    fn page(&self, id: u64) -> BoltResult<Vec<u8>> {
        if id >= self.pages {
            return Err(self.damaged(id, "the page is past the end of the database"));
        }
        let mut page = vec![0u8; self.page_size];
        self.read_exact(id, &mut page)?;
        if u64_at(&page, 0) != id {
            return Err(self.damaged(
                id,
                &format!("the page says it is page {}", u64_at(&page, 0)),
            ));
        }
        let overflow = u64::from(u32_at(&page, 12));
        if overflow > 0 {
            if id + overflow >= self.pages {
                return Err(self.damaged(id, "its overflow runs past the end of the database"));
            }
            page.resize(self.page_size * (overflow as usize + 1), 0);
            let rest = &mut page[self.page_size..];
            self.file
                .read_exact_at(rest, (id + 1) * self.page_size as u64)?;
        }
        Ok(page)
    }

    fn read_exact(&self, id: u64, buf: &mut [u8]) -> BoltResult<()> {
        self.file
            .read_exact_at(buf, id * self.page_size as u64)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => {
                    BoltError::Truncated(format!("page {id} is past the end of the file"))
                }
                _ => BoltError::Io(e),
            })
    }

    fn damaged(&self, id: u64, why: &str) -> BoltError {
        BoltError::Damaged(format!("page {id}: {why}"))
    }
}

struct Meta {
    page_size: usize,
    root: u64,
    pages: u64,
    txid: u64,
}

/// Reads a meta page image (bbolt: magic, version, checksum over the first
/// 56 bytes of the meta struct).
fn parse_meta(page: &[u8], id: u64) -> Result<Meta, String> {
    let meta = page
        .get(PAGE_HEADER..PAGE_HEADER + 64)
        .ok_or("the file is too small for its meta pages")?;
    if u32_at(meta, 0) != META_MAGIC {
        return Err("no bbolt magic number in the meta page".into());
    }
    if u32_at(meta, 4) != META_VERSION {
        return Err(format!(
            "bbolt format version {} (2 expected)",
            u32_at(meta, 4)
        ));
    }
    if u64_at(meta, 56) != fnv1a64(&meta[..56]) {
        return Err(format!("meta page {id} fails its checksum"));
    }
    let page_size = u32_at(meta, 8) as usize;
    if !(1024..=1 << 24).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(format!("page size {page_size}"));
    }
    Ok(Meta {
        page_size,
        root: u64_at(meta, 16),
        pages: u64_at(meta, 40),
        txid: u64_at(meta, 48),
    })
}

fn bucket_ref(name: &[u8], value: &[u8]) -> BoltResult<BucketRef> {
    if value.len() < 16 {
        return Err(BoltError::Damaged(format!(
            "bucket {:?} has a {}-byte header",
            String::from_utf8_lossy(name),
            value.len()
        )));
    }
    let root = u64_at(value, 0);
    if root != 0 {
        return Ok(BucketRef::Page(root));
    }
    let page = value[16..].to_vec();
    if page.len() < PAGE_HEADER || flags_of(&page) != FLAG_LEAF {
        return Err(BoltError::Damaged(format!(
            "inline bucket {:?} is not a leaf",
            String::from_utf8_lossy(name)
        )));
    }
    Ok(BucketRef::Inline(page))
}

/// Hands each element of a leaf page to `f`, checking bounds and order.
fn leaf_elements(
    page: &[u8],
    id: u64,
    last: &mut Option<Vec<u8>>,
    f: &mut ElementFn<'_>,
) -> BoltResult<()> {
    let count = usize::from(u16_at(page, 10));
    for i in 0..count {
        let at = PAGE_HEADER + ELEMENT * i;
        let element = page
            .get(at..at + ELEMENT)
            .ok_or_else(|| damaged(id, "leaf elements run past the page"))?;
        let flags = u32_at(element, 0);
        let pos = u32_at(element, 4) as usize;
        let ksize = u32_at(element, 8) as usize;
        let vsize = u32_at(element, 12) as usize;
        let key_at = at + pos;
        let key = page
            .get(key_at..key_at + ksize)
            .ok_or_else(|| damaged(id, "a key runs past the page"))?;
        let value = page
            .get(key_at + ksize..key_at + ksize + vsize)
            .ok_or_else(|| damaged(id, "a value runs past the page"))?;
        check_order(key, last, id)?;
        f(key, value, flags)?;
    }
    Ok(())
}

/// A branch page's child page ids, in key order.
fn branch_children(page: &[u8], id: u64) -> BoltResult<Vec<u64>> {
    let count = usize::from(u16_at(page, 10));
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let at = PAGE_HEADER + ELEMENT * i;
        let element = page
            .get(at..at + ELEMENT)
            .ok_or_else(|| damaged(id, "branch elements run past the page"))?;
        let key_at = at + u32_at(element, 0) as usize;
        if key_at + u32_at(element, 4) as usize > page.len() {
            return Err(damaged(id, "a branch key runs past the page"));
        }
        out.push(u64_at(element, 8));
    }
    Ok(out)
}

fn check_order(key: &[u8], last: &mut Option<Vec<u8>>, id: u64) -> BoltResult<()> {
    if let Some(prev) = last {
        if key <= prev.as_slice() {
            return Err(damaged(id, "keys are out of order"));
        }
    }
    *last = Some(key.to_vec());
    Ok(())
}

fn damaged(id: u64, why: &str) -> BoltError {
    BoltError::Damaged(format!("page {id}: {why}"))
}

fn flags_of(page: &[u8]) -> u16 {
    u16_at(page, 8)
}

fn read_up_to(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64)? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}
