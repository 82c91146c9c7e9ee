//! Opening recording files: raw or gzip, recognised by magic bytes, not by name.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::limits::{Bounded, Counted, InputLimits, Trip};
use crate::seal::Key;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Error opening an input file.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: cannot open: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("{path}: the file is empty")]
    Empty { path: PathBuf },
}

/// Whether a file is gzip-compressed, from its first bytes.
pub fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&GZIP_MAGIC)
}

/// Whether the file at `path` holds gzip data (after unsealing with `key`).
pub fn is_gzip_file(path: &Path, key: Option<&Key>) -> io::Result<bool> {
    let mut head = [0u8; 2];
    let got = read_up_to(&mut open_plain(path, key)?, &mut head)?;
    Ok(is_gzip(&head[..got]))
}

/// Opens a file's bytes as they were before sealing: a file sealed with
/// `VIDEO_WORKER_SECRET_KEY` (see `seal`) is opened with `key`, any other
/// file is read as it is.
pub fn open_plain(path: &Path, key: Option<&Key>) -> io::Result<Box<dyn Read + Send>> {
    let mut file = File::open(path)?;
    let mut head = [0u8; 8];
    let got = read_up_to(&mut file, &mut head)?;
    let start = io::Cursor::new(head[..got].to_vec()).chain(file);
    if !crate::seal::is_sealed(&head[..got]) {
        return Ok(Box::new(start));
    }
    let key = key.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "the file is sealed with VIDEO_WORKER_SECRET_KEY, but no key is configured",
        )
    })?;
    Ok(Box::new(crate::seal::OpenReader::new(start, key)?))
}

/// Opens one recording file and returns a reader of its protocol bytes:
/// unsealed (with `key`) when sealed, decompressed when it starts with the
/// gzip magic, as-is otherwise. A `.gz` name on a file that is not gzip is
/// read raw.
pub fn open_recording(path: &Path, key: Option<&Key>) -> Result<Box<dyn Read + Send>, InputError> {
    let open_err = |source| InputError::Open { path: path.to_path_buf(), source };
    let mut reader = BufReader::with_capacity(256 * 1024, open_plain(path, key).map_err(open_err)?);
    let head = reader.fill_buf().map_err(open_err)?;
    if head.is_empty() {
        return Err(InputError::Empty { path: path.to_path_buf() });
    }
    if is_gzip(head) { Ok(Box::new(MultiGzDecoder::new(reader))) } else { Ok(Box::new(reader)) }
}

/// [`open_recording`] for a first pass that decides whether the input is
/// taken: the reader refuses to go past `limits` (the decompressed size,
/// and the ratio to the bytes on disk), and the [`Trip`] says so even where
/// a format's reader turns the read error into a truncation warning.
pub fn open_bounded(
    path: &Path,
    key: Option<&Key>,
    limits: InputLimits,
) -> Result<(Box<dyn Read + Send>, Trip), InputError> {
    let open_err = |source| InputError::Open { path: path.to_path_buf(), source };
    let compressed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let plain = Counted { inner: open_plain(path, key).map_err(open_err)?, count: compressed.clone() };
    let mut reader = BufReader::with_capacity(256 * 1024, plain);
    let head = reader.fill_buf().map_err(open_err)?;
    if head.is_empty() {
        return Err(InputError::Empty { path: path.to_path_buf() });
    }
    let trip = Trip::default();
    let file = path.display().to_string();
    let bounded: Box<dyn Read + Send> = if is_gzip(head) {
        let inner = MultiGzDecoder::new(reader);
        Box::new(Bounded { inner, compressed: Some(compressed), limits, file, trip: trip.clone(), out: 0 })
    } else {
        Box::new(Bounded { inner: reader, compressed: None, limits, file, trip: trip.clone(), out: 0 })
    };
    Ok((bounded, trip))
}

fn read_up_to(file: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vw-input-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn read_all(path: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        open_recording(path, None).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn gzip_is_detected_by_content_not_name() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"4.sync,1.5;").unwrap();
        let path = temp_file("recording.bin", &gz.finish().unwrap());
        assert_eq!(read_all(&path), b"4.sync,1.5;");
    }

    #[test]
    fn a_gz_name_without_gzip_content_is_read_raw() {
        let path = temp_file("fake.guac.gz", b"4.sync,1.5;");
        assert_eq!(read_all(&path), b"4.sync,1.5;");
    }

    #[test]
    fn sealed_files_open_with_the_given_key() {
        let key = crate::seal::Key::from_secret("0123456789abcdef0123456789abcdef").unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"4.sync,1.5;").unwrap();
        let mut sealer = crate::seal::SealWriter::new(Vec::new(), &key).unwrap();
        sealer.write_all(&gz.finish().unwrap()).unwrap();
        let path = temp_file("sealed.guac", &sealer.finish().unwrap());
        assert!(is_gzip_file(&path, Some(&key)).unwrap(), "gzip is seen under the seal");
        let mut out = Vec::new();
        open_recording(&path, Some(&key)).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, b"4.sync,1.5;");
        assert!(open_recording(&path, None).is_err(), "no key, no recording");
    }

    #[test]
    fn a_gzip_bomb_is_refused_by_the_bounded_reader() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b'a'; 80 << 20]).unwrap();
        let path = temp_file("bomb.gz", &gz.finish().unwrap());
        let limits = InputLimits { max_bytes: u64::MAX, max_ratio: 200 };
        let (mut r, trip) = open_bounded(&path, None, limits).unwrap();
        assert!(std::io::copy(&mut r, &mut std::io::sink()).is_err());
        let e = trip.check().unwrap_err();
        assert!(e.to_string().contains("bomb.gz") && e.to_string().contains("200:1"), "{e}");
        let (mut r, trip) =
            open_bounded(&path, None, InputLimits { max_bytes: 1 << 20, max_ratio: 5000 }).unwrap();
        assert!(std::io::copy(&mut r, &mut std::io::sink()).is_err());
        assert!(trip.check().unwrap_err().why.contains("MAX_RECORDING_BYTES"));
        let (mut r, trip) =
            open_bounded(&path, None, InputLimits { max_bytes: u64::MAX, max_ratio: 5000 }).unwrap();
        assert_eq!(std::io::copy(&mut r, &mut std::io::sink()).unwrap(), 80 << 20);
        assert!(trip.check().is_ok());
    }

    #[test]
    fn empty_file_is_an_error_naming_the_file() {
        let path = temp_file("empty.guac", b"");
        let err = open_recording(&path, None).err().expect("must fail");
        assert!(err.to_string().contains("empty.guac"), "{err}");
        assert!(err.to_string().contains("empty"), "{err}");
    }
}
