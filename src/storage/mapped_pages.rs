//! LMDB runs with `WRITE_MAP`: every page a commit writes is a page of this
//! process's mapping and counts in its RSS, though once flushed it is a
//! clean page of the kernel's page cache (bbolt, writing with `pwrite`,
//! maps only the pages it reads). After each flush, and after boot has read
//! the whole store, the mapping's page-table entries are dropped
//! (`madvise(MADV_DONTNEED)`): RSS falls back to what is touched until the
//! next flush, the data stays in the page cache, and the next touch maps a
//! page again (a minor fault). On 1 M keys this halves peak RSS at no
//! measured throughput cost (docs/benchmarks.md, finding 11).

use std::path::Path;

/// Where a file is mapped in this process.
#[derive(Debug, Default)]
pub struct MappedFile {
    ranges: Vec<(usize, usize)>,
}

impl MappedFile {
    /// The mappings of `file` in this process, from `/proc/self/maps`
    /// (none if it is not mapped or the table cannot be read). Call it
    /// right after the file was mapped, and keep the result no longer than
    /// the mapping lives.
    pub fn find(file: &Path) -> MappedFile {
        use std::os::unix::fs::MetadataExt as _;
        let (Ok(path), Ok(meta), Ok(maps)) = (
            std::fs::canonicalize(file),
            std::fs::metadata(file),
            std::fs::read_to_string("/proc/self/maps"),
        ) else {
            return MappedFile::default();
        };
        MappedFile {
            ranges: ranges_of(&maps, &path.to_string_lossy(), meta.ino()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Drops the pages from this process's page tables. Safe at any time
    /// for a shared file mapping: dirty pages keep their data in the page
    /// cache, and a reader or writer touching one maps it again.
    pub fn release(&self) {
        for &(start, len) in &self.ranges {
            // SAFETY: the range is a shared file mapping of this process
            // (LMDB's, alive as long as its environment, which owns this);
            // MADV_DONTNEED on it only drops page-table entries.
            unsafe {
                libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED);
            }
        }
    }
}

/// `(start, length)` of each line of a `/proc/PID/maps` text that maps the
/// file `path` with inode `inode`. A mapping of a file since replaced (a
/// defragmentation's old one: `path (deleted)`) is left out, since it goes
/// away with its own environment.
fn ranges_of(maps: &str, path: &str, inode: u64) -> Vec<(usize, usize)> {
    let inode = inode.to_string();
    maps.lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() == 6 && fields[4] == inode && fields[5] == path
        })
        .filter_map(|line| {
            let (lo, hi) = line.split_whitespace().next()?.split_once('-')?;
            let lo = usize::from_str_radix(lo, 16).ok()?;
            let hi = usize::from_str_radix(hi, 16).ok()?;
            (hi > lo).then_some((lo, hi - lo))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_files_own_lines_count() {
        let maps = "\
7f0080000000-7f00a0000000 rw-s 00000000 fd:01 41 /data/member/db/data.mdb (deleted)
7f00a0000000-7f00c0000000 rw-s 00000000 fd:01 42 /data/member/db/data.mdb
7f00c0000000-7f00c0001000 rw-s 00000000 fd:01 43 /data/member/db/lock.mdb
7f00d0000000-7f00d0100000 r--s 00000000 fd:01 44 /data/member/snap/db/data.mdb
55d000000000-55d000100000 r-xp 00000000 fd:01 7 /usr/bin/oxcd
";
        assert_eq!(
            ranges_of(maps, "/data/member/db/data.mdb", 42),
            vec![(0x7f00a0000000, 0x20000000)]
        );
        assert!(ranges_of(maps, "/data/member/db/data.mdb", 41).is_empty());
        assert!(ranges_of(maps, "/elsewhere/data.mdb", 42).is_empty());
    }

    #[test]
    fn an_open_environment_is_found_and_reads_back_after_a_release() {
        let dir = tempfile::tempdir().unwrap();
        let backend = crate::storage::backend::Backend::open(dir.path(), 64 << 20).unwrap();
        let mapped = MappedFile::find(&dir.path().join("data.mdb"));
        assert!(!mapped.is_empty(), "LMDB's map is in /proc/self/maps");
        let mut txn = backend.write_txn().unwrap();
        backend.put_meta(&mut txn, "k", b"v").unwrap();
        txn.commit().unwrap();
        mapped.release();
        backend.sync().unwrap();
        let txn = backend.read_txn().unwrap();
        assert_eq!(
            backend.get_meta(&txn, "k").unwrap().as_deref(),
            Some(&b"v"[..])
        );
    }
}
