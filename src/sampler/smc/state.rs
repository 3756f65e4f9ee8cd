//! The sampler's full state as bytes: every number stored bit for bit, so a
//! run restored from them continues exactly as the uninterrupted one.

use crate::{Error, Result};

/// Magic and version at the start of the bytes.
pub(super) const MAGIC: &[u8; 8] = b"SQSMC\x00\x00\x02";

/// Appends values to a byte buffer (little-endian).
#[derive(Debug, Default)]
pub(super) struct Writer(pub Vec<u8>);

impl Writer {
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u128(&mut self, v: u128) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }
    pub fn f64s(&mut self, v: &[f64]) {
        self.u64(v.len() as u64);
        v.iter().for_each(|x| self.f64(*x));
    }
    pub fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
}

/// Reads what [`Writer`] wrote; every read checks the length left.
#[derive(Debug)]
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

fn short() -> Error {
    Error::Usage("cannot resume: the stored SMC state is truncated or not an SMC state".into())
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(Error::Usage("cannot resume: the stored sampler state is not an SMC state of this version".into()));
        }
        Ok(Reader { bytes, pos: MAGIC.len() })
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(short)?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    pub fn u128(&mut self) -> Result<u128> {
        Ok(u128::from_le_bytes(self.take(16)?.try_into().expect("16 bytes")))
    }
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }
    pub fn len(&mut self) -> Result<usize> {
        let n = self.u64()? as usize;
        // No length can exceed the bytes left (8 bytes per value at least).
        if n > self.bytes.len() - self.pos {
            return Err(short());
        }
        Ok(n)
    }
    pub fn f64s(&mut self) -> Result<Vec<f64>> {
        let n = self.len()?;
        if n.saturating_mul(8) > self.bytes.len() - self.pos {
            return Err(short());
        }
        (0..n).map(|_| self.f64()).collect()
    }
    pub fn str(&mut self) -> Result<String> {
        let n = self.len()?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| short())
    }
    pub fn finish(&self) -> Result<()> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(Error::Usage("cannot resume: the stored SMC state has trailing bytes".into()))
        }
    }
}
