//! Keys and values: fixed-width keys from a key number, a pre-generated pool of random
//! values, and a small per-client PRNG (no locking, no allocation).

use crate::args::KeyFormat;
use std::time::{SystemTime, UNIX_EPOCH};

/// xorshift64* : fast, good enough for choosing keys and filling values.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from the clock and `stream` (e.g. the client number).
    pub fn seeded(stream: u64) -> Rng {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Rng::from_seed(nanos ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    pub fn from_seed(seed: u64) -> Rng {
        // splitmix64 step so that close seeds give unrelated streams; never zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 1 } else { z })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// Which keys a load uses and how key numbers become key bytes.
#[derive(Debug, Clone)]
pub struct KeySpace {
    size: u64,
    key_size: usize,
    format: KeyFormat,
    sequential: bool,
}

impl KeySpace {
    /// Fails when `key_size` bytes cannot hold every key number below `size`.
    pub fn new(
        size: u64,
        key_size: usize,
        format: KeyFormat,
        sequential: bool,
    ) -> Result<KeySpace, String> {
        if size == 0 {
            return Err("--key-space-size must be at least 1".into());
        }
        let largest = size - 1;
        let needed = match format {
            KeyFormat::Decimal => decimal_len(largest),
            KeyFormat::Binary => varint_len(zigzag(largest)),
        };
        if key_size < needed {
            let name = match format {
                KeyFormat::Decimal => "decimal",
                KeyFormat::Binary => "binary",
            };
            return Err(format!(
                "--key-size {key_size} is too small for --key-space-size {size} \
                 with --key-format {name} (needs {needed} bytes)"
            ));
        }
        Ok(KeySpace {
            size,
            key_size,
            format,
            sequential,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The key number for request number `n`: `n % size` with sequential keys,
    /// else uniformly random.
    pub fn pick(&self, n: u64, rng: &mut Rng) -> u64 {
        if self.sequential {
            n % self.size
        } else {
            rng.below(self.size)
        }
    }

    /// The key bytes for key number `index` (exactly `key_size` bytes).
    pub fn key(&self, index: u64) -> Vec<u8> {
        let mut key = vec![b'0'; self.key_size];
        match self.format {
            KeyFormat::Decimal => write_decimal(&mut key, index),
            KeyFormat::Binary => {
                key.fill(0);
                write_varint(&mut key, zigzag(index));
            }
        }
        key
    }
}

fn decimal_len(mut v: u64) -> usize {
    let mut len = 1;
    while v >= 10 {
        v /= 10;
        len += 1;
    }
    len
}

/// Right-aligned decimal digits into a buffer already filled with '0'.
fn write_decimal(buf: &mut [u8], mut v: u64) {
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
}

/// etcd's benchmark encodes key numbers as signed (zig-zag) varints.
fn zigzag(v: u64) -> u64 {
    let signed = v as i64;
    ((signed << 1) ^ (signed >> 63)) as u64
}

fn varint_len(mut v: u64) -> usize {
    let mut len = 1;
    while v >= 0x80 {
        v >>= 7;
        len += 1;
    }
    len
}

fn write_varint(buf: &mut [u8], mut v: u64) {
    for slot in buf.iter_mut() {
        if v < 0x80 {
            *slot = v as u8;
            return;
        }
        *slot = (v as u8 & 0x7f) | 0x80;
        v >>= 7;
    }
}

/// Random values, generated once: value `n` is a window into one random buffer, so
/// consecutive requests carry different bytes without generating any per request.
#[derive(Debug)]
pub struct Values {
    pool: Vec<u8>,
    size: usize,
}

/// Number of distinct value windows in the pool.
const VALUE_WINDOWS: usize = 1024;

impl Values {
    pub fn random(size: usize) -> Values {
        let mut pool = vec![0u8; size + VALUE_WINDOWS];
        Rng::seeded(0x7661_6c75).fill(&mut pool);
        Values { pool, size }
    }

    pub fn get(&self, n: u64) -> &[u8] {
        let offset = (n % VALUE_WINDOWS as u64) as usize;
        &self.pool[offset..offset + self.size]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_keys_are_fixed_width() {
        let ks = KeySpace::new(1000, 8, KeyFormat::Decimal, true).unwrap();
        assert_eq!(ks.key(0), b"00000000");
        assert_eq!(ks.key(42), b"00000042");
        assert_eq!(ks.key(999), b"00000999");
        let ks = KeySpace::new(10, 1, KeyFormat::Decimal, true).unwrap();
        assert_eq!(ks.key(9), b"9");
        assert!(KeySpace::new(11, 1, KeyFormat::Decimal, true).is_err());
        assert!(KeySpace::new(1_000_000_000, 8, KeyFormat::Decimal, true).is_err());
        assert!(KeySpace::new(100_000_000, 8, KeyFormat::Decimal, true).is_ok());
    }

    #[test]
    fn binary_keys_match_go_put_varint() {
        let ks = KeySpace::new(1 << 20, 8, KeyFormat::Binary, true).unwrap();
        // binary.PutVarint(buf, 1) -> [2], (300) -> [0xd8, 0x04]
        assert_eq!(ks.key(1), vec![2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(ks.key(300), vec![0xd8, 0x04, 0, 0, 0, 0, 0, 0]);
        assert!(KeySpace::new(64, 1, KeyFormat::Binary, true).is_ok());
        assert!(KeySpace::new(65, 1, KeyFormat::Binary, true).is_err());
    }

    #[test]
    fn sequential_and_random_picks() {
        let ks = KeySpace::new(10, 8, KeyFormat::Decimal, true).unwrap();
        let mut rng = Rng::from_seed(1);
        assert_eq!(ks.pick(23, &mut rng), 3);
        let ks = KeySpace::new(10, 8, KeyFormat::Decimal, false).unwrap();
        let mut seen = [false; 10];
        for n in 0..1000 {
            seen[ks.pick(n, &mut rng) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn values_have_the_requested_size() {
        let v = Values::random(256);
        assert_eq!(v.get(0).len(), 256);
        assert_eq!(v.get(5000).len(), 256);
        assert_ne!(v.get(0), v.get(1));
        assert!(Values::random(0).get(7).is_empty());
    }

    #[test]
    fn unit_is_in_range() {
        let mut rng = Rng::from_seed(7);
        for _ in 0..1000 {
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
