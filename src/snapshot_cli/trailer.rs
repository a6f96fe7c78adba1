//! The SHA-256 trailer `etcdctl snapshot save` leaves after the database:
//! a snapshot of n bytes carries one when n % 512 == 32 (bbolt files are
//! whole pages), as etcdctl decides.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

const DIGEST_LEN: u64 = 32;

/// Where the database ends in the file, after checking the trailer.
pub(super) fn checked_data_len(path: &Path, skip_hash_check: bool) -> Result<u64, String> {
    let mut file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let len = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if len % 512 != DIGEST_LEN {
        if skip_hash_check {
            return Ok(len);
        }
        return Err(format!(
            "snapshot missing hash but --skip-hash-check=false ({} has {len} bytes: not a whole database followed by its SHA-256; a truncated or copied-out file?)",
            path.display()
        ));
    }
    let data_len = len - DIGEST_LEN;
    if skip_hash_check {
        return Ok(data_len);
    }
    let mut expected = [0u8; DIGEST_LEN as usize];
    file.seek(SeekFrom::Start(data_len))
        .and_then(|_| file.read_exact(&mut expected))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.rewind().map_err(|e| e.to_string())?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut left = data_len;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let want = buf.len().min(left as usize);
        file.read_exact(&mut buf[..want])
            .map_err(|e| format!("{}: {e}", path.display()))?;
        context.update(&buf[..want]);
        left -= want as u64;
    }
    let got = context.finish();
    if got.as_ref() != expected {
        return Err(format!(
            "expected sha256 {}, got {} (the file is damaged; --skip-hash-check restores it anyway)",
            hex(&expected),
            hex(got.as_ref())
        ));
    }
    Ok(data_len)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
