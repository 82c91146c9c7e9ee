//! Sealing files at rest with `VIDEO_WORKER_SECRET_KEY`: AES-256-GCM over
//! fixed-size chunks, so files of any size are sealed and opened with
//! constant memory, and every chunk is authenticated on its own.
//!
//! Format (see docs/security.md):
//! ```text
//! header  "VWSEAL01" | nonce prefix (8 random bytes) | chunk size (u32 BE)
//! chunk i AES-256-GCM(key, nonce = prefix | i (u32 BE), aad = header | last)
//!         = ciphertext (chunk size bytes, fewer for the last chunk) | tag (16)
//! ```
//! The counter in the nonce detects reordered or dropped chunks; the `last`
//! flag in the associated data detects truncation (the final chunk must say
//! it is final) and anything appended after it. Any worker holding the same
//! key opens any sealed file.

use std::io::{self, BufRead, BufReader, Read, Write};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};

pub const MAGIC: &[u8; 8] = b"VWSEAL01";
const HEADER: usize = 20;
const TAG: usize = 16;
/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;

/// A 256-bit key.
#[derive(Clone)]
pub struct Key(Aes256Gcm);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(******)")
    }
}

impl Key {
    /// The key from `VIDEO_WORKER_SECRET_KEY`: exactly 32 bytes.
    pub fn from_secret(secret: &str) -> Result<Key, String> {
        let bytes = secret.as_bytes();
        if bytes.len() != 32 {
            return Err(format!("the key must be exactly 32 bytes, not {}", bytes.len()));
        }
        Ok(Key(Aes256Gcm::new_from_slice(bytes).map_err(|e| e.to_string())?))
    }
}

/// Whether bytes start a sealed file.
pub fn is_sealed(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

fn nonce(prefix: &[u8], counter: u32) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(prefix);
    n[8..].copy_from_slice(&counter.to_be_bytes());
    *Nonce::from_slice(&n)
}

fn aad(header: &[u8], last: bool) -> Vec<u8> {
    let mut a = header.to_vec();
    a.push(u8::from(last));
    a
}

fn broken(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("sealed file: {}", why.into()))
}

/// Seals what is written to it; `finish` writes the final chunk.
pub struct SealWriter<W: Write> {
    inner: W,
    key: Key,
    header: [u8; HEADER],
    counter: u32,
    buf: Vec<u8>,
}

impl<W: Write> SealWriter<W> {
    pub fn new(mut inner: W, key: &Key) -> io::Result<SealWriter<W>> {
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(MAGIC);
        header[8..16].copy_from_slice(&rand::random::<[u8; 8]>());
        header[16..].copy_from_slice(&(CHUNK as u32).to_be_bytes());
        inner.write_all(&header)?;
        Ok(SealWriter { inner, key: key.clone(), header, counter: 0, buf: Vec::with_capacity(CHUNK + TAG) })
    }

    fn seal_chunk(&mut self, last: bool) -> io::Result<()> {
        let n = nonce(&self.header[8..16], self.counter);
        let tag = self
            .key
            .0
            .encrypt_in_place_detached(&n, &aad(&self.header, last), &mut self.buf)
            .map_err(|_| broken("encryption failed"))?;
        self.inner.write_all(&self.buf)?;
        self.inner.write_all(&tag)?;
        self.buf.clear();
        self.counter = self.counter.checked_add(1).ok_or_else(|| broken("file too large"))?;
        Ok(())
    }

    /// Seals the last chunk and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.seal_chunk(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl SealWriter<Vec<u8>> {
    /// Takes the sealed bytes produced so far (to pass them on to an async
    /// writer without holding the whole file in memory).
    pub fn drain(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.inner)
    }
}

/// Reads a sealed file to its end, checking every chunk; the error says why
/// it does not open.
pub fn verify(path: &std::path::Path, key: &Key) -> io::Result<u64> {
    let mut reader = OpenReader::new(std::fs::File::open(path)?, key)?;
    io::copy(&mut reader, &mut io::sink())
}

/// Checks a file sealed at rest with `key`; a file that is not sealed
/// passes as it is.
pub fn verify_if_sealed(path: &std::path::Path, key: Option<&Key>) -> io::Result<()> {
    let mut head = [0u8; 8];
    let got = read_full(&mut std::fs::File::open(path)?, &mut head)?;
    if !is_sealed(&head[..got]) {
        return Ok(());
    }
    let key = key.ok_or_else(|| broken("sealed, but VIDEO_WORKER_SECRET_KEY is not configured"))?;
    verify(path, key).map(|_| ())
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // A full chunk is sealed as "not last" only once more data arrives;
        // `finish` seals whatever remains (possibly a full chunk) as last.
        if self.buf.len() == CHUNK && !data.is_empty() {
            self.seal_chunk(false)?;
        }
        let n = (CHUNK - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Opens a sealed stream: reads plaintext, failing with `InvalidData` on
/// any tampering, truncation, reordering or the wrong key.
pub struct OpenReader<R: Read> {
    inner: BufReader<R>,
    key: Key,
    header: [u8; HEADER],
    chunk: usize,
    counter: u32,
    plain: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<R: Read> OpenReader<R> {
    pub fn new(inner: R, key: &Key) -> io::Result<OpenReader<R>> {
        let mut inner = BufReader::with_capacity(CHUNK + TAG + 1, inner);
        let mut header = [0u8; HEADER];
        inner.read_exact(&mut header).map_err(|_| broken("too short for a header"))?;
        if !is_sealed(&header) {
            return Err(broken("not a sealed file"));
        }
        let chunk = u32::from_be_bytes([header[16], header[17], header[18], header[19]]) as usize;
        if chunk == 0 || chunk > 16 << 20 {
            return Err(broken(format!("chunk size {chunk} is not plausible")));
        }
        Ok(OpenReader {
            inner,
            key: key.clone(),
            header,
            chunk,
            counter: 0,
            plain: Vec::new(),
            pos: 0,
            done: false,
        })
    }

    /// Reads and opens the next chunk into `plain`.
    fn next_chunk(&mut self) -> io::Result<()> {
        let mut sealed = vec![0u8; self.chunk + TAG];
        let got = read_full(&mut self.inner, &mut sealed)?;
        // Full and followed by more bytes: not the last chunk.
        let last = got < sealed.len() || self.inner.fill_buf()?.is_empty();
        if got < TAG {
            return Err(broken("truncated: a chunk is missing its tag"));
        }
        sealed.truncate(got);
        let tag = Tag::clone_from_slice(&sealed[got - TAG..]);
        sealed.truncate(got - TAG);
        let n = nonce(&self.header[8..16], self.counter);
        self.key.0.decrypt_in_place_detached(&n, &aad(&self.header, last), &mut sealed, &tag).map_err(|_| {
            broken(format!(
                "chunk {} does not authenticate (wrong VIDEO_WORKER_SECRET_KEY, or the file was altered or truncated)",
                self.counter
            ))
        })?;
        self.counter += 1;
        self.plain = sealed;
        self.pos = 0;
        self.done = last;
        Ok(())
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.plain.len() {
            if self.done {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = out.len().min(self.plain.len() - self.pos);
        out[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: u8) -> Key {
        Key::from_secret(&String::from(c as char).repeat(32)).unwrap()
    }

    fn seal(data: &[u8], k: &Key) -> Vec<u8> {
        let mut w = SealWriter::new(Vec::new(), k).unwrap();
        for piece in data.chunks(10_000) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap()
    }

    fn open(sealed: &[u8], k: &Key) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        OpenReader::new(sealed, k)?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn round_trips_at_every_size_around_chunk_edges() {
        let k = key(b'k');
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 7] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let sealed = seal(&data, &k);
            assert!(is_sealed(&sealed));
            assert_eq!(open(&sealed, &k).unwrap(), data, "length {len}");
            assert!(
                !sealed.windows(16).any(|w| len >= 16 && w == &data[..16]),
                "no plaintext in the sealed bytes"
            );
        }
    }

    #[test]
    fn wrong_key_tampering_truncation_and_reordering_fail() {
        let k = key(b'k');
        let data: Vec<u8> = (0..3 * CHUNK + 100).map(|i| (i % 256) as u8).collect();
        let sealed = seal(&data, &k);
        assert!(open(&sealed, &key(b'x')).is_err(), "wrong key");
        let mut flipped = sealed.clone();
        flipped[HEADER + 5] ^= 1;
        assert!(open(&flipped, &k).is_err(), "a flipped bit");
        let whole = HEADER + 2 * (CHUNK + TAG);
        assert!(open(&sealed[..whole], &k).is_err(), "cut at a chunk boundary");
        assert!(open(&sealed[..sealed.len() - 1], &k).is_err(), "cut inside the last chunk");
        let mut swapped = sealed[..HEADER].to_vec();
        swapped.extend_from_slice(&sealed[HEADER + CHUNK + TAG..HEADER + 2 * (CHUNK + TAG)]);
        swapped.extend_from_slice(&sealed[HEADER..HEADER + CHUNK + TAG]);
        swapped.extend_from_slice(&sealed[HEADER + 2 * (CHUNK + TAG)..]);
        assert!(open(&swapped, &k).is_err(), "reordered chunks");
        let mut longer = sealed.clone();
        longer.extend_from_slice(&sealed[HEADER..HEADER + CHUNK + TAG]);
        assert!(open(&longer, &k).is_err(), "data after the last chunk");
    }

    #[test]
    fn keys_must_be_32_bytes() {
        assert!(Key::from_secret("short").unwrap_err().contains("32 bytes"));
        assert!(Key::from_secret(&"é".repeat(32)).is_err(), "32 characters of 2 bytes are 64 bytes");
    }
}
