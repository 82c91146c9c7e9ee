//! Opening recording files: raw or gzip, recognised by magic bytes, not by name.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

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

/// Whether the file at `path` starts with the gzip magic.
pub fn is_gzip_file(path: &Path) -> io::Result<bool> {
    let mut head = [0u8; 2];
    let got = read_up_to(&mut File::open(path)?, &mut head)?;
    Ok(is_gzip(&head[..got]))
}

/// Opens one recording file and returns a reader of its protocol bytes:
/// decompressed when the file starts with the gzip magic, as-is otherwise.
/// A `.gz` name on a file that is not gzip is read as a raw recording.
pub fn open_recording(path: &Path) -> Result<Box<dyn Read + Send>, InputError> {
    let open_err = |source| InputError::Open { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(open_err)?;
    let mut head = [0u8; 2];
    let got = read_up_to(&mut file, &mut head).map_err(open_err)?;
    if got == 0 {
        return Err(InputError::Empty { path: path.to_path_buf() });
    }
    let start = io::Cursor::new(head[..got].to_vec()).chain(file);
    let buffered = BufReader::with_capacity(256 * 1024, start);
    if is_gzip(&head[..got]) { Ok(Box::new(MultiGzDecoder::new(buffered))) } else { Ok(Box::new(buffered)) }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
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
        open_recording(path).unwrap().read_to_end(&mut out).unwrap();
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
    fn empty_file_is_an_error_naming_the_file() {
        let path = temp_file("empty.guac", b"");
        let err = open_recording(&path).err().expect("must fail");
        assert!(err.to_string().contains("empty.guac"), "{err}");
        assert!(err.to_string().contains("empty"), "{err}");
    }
}
