//! JumpServer's download forms: the `<sid>.tar` that core's download button
//! gives (the replay and `<sid>.json`, the session's metadata), and Lion's
//! unpacked `<sid>.replay.json` index with its `.part.gz` parts beside it.
//!
//! A tar is unpacked into a private directory beside it (a hidden one, so
//! an inbox does not take it; the system's temporary directory when the
//! tar's is not writable) that lives as long as the recording, sealed again
//! with the key when the tar was sealed, so no plain copy is left at rest.
//! Whatever it holds is opened as if given directly: a terminal replay, a Guacamole replay, or Lion's parts in the
//! order their index gives.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::guac::input::{open_bounded, open_recording};
use crate::guac::limits::InputLimits;
use crate::seal::Key;
use crate::terminal::TermError;

use super::{Diagnostics, FrameSink, OpenOptions, PlaybackError, Recording, open_with};

/// Members unpacked at most (an index and its parts, the session's JSON).
const MAX_MEMBERS: usize = 10_000;
const MAX_INDEX: u64 = 16 * 1024 * 1024;

/// A recording opened from unpacked files; the files go with it.
struct Unpacked {
    inner: Box<dyn Recording>,
    dir: PathBuf,
    name: String,
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Recording for Unpacked {
    fn describe(&self) -> String {
        format!("{} ({})", self.name, self.inner.describe())
    }
    fn screen(&self) -> (u32, u32) {
        self.inner.screen()
    }
    fn span_ms(&self) -> i64 {
        self.inner.span_ms()
    }
    fn input_bytes(&self) -> u64 {
        self.inner.input_bytes()
    }
    fn play(
        &self,
        sink: &mut dyn FrameSink,
        diag: &Diagnostics,
        progress: &mut dyn FnMut(i64),
    ) -> Result<(), PlaybackError> {
        self.inner.play(sink, diag, progress)
    }
    fn key_events(&self) -> Result<Vec<crate::keys::KeyEvent>, PlaybackError> {
        self.inner.key_events()
    }
}

fn format_error(file: &Path, cause: impl Into<String>) -> PlaybackError {
    TermError::Format { file: file.display().to_string(), cause: cause.into() }.into()
}

/// A plain member name: no directories, nothing that climbs out.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']) && name.len() <= 255
}

/// The part names a Lion `replay.json` lists, in its order.
pub fn index_parts(value: &Value) -> Option<Vec<String>> {
    let files = value.get("files")?.as_array()?;
    let names: Vec<String> =
        files.iter().filter_map(|f| f.get("name").and_then(Value::as_str)).map(str::to_string).collect();
    (!names.is_empty()).then_some(names)
}

/// When `path` is a Lion `replay.json`, its parts (beside it), in order.
pub fn replay_index_parts(path: &Path, key: Option<&Key>) -> Result<Option<Vec<PathBuf>>, PlaybackError> {
    let mut text = Vec::new();
    let _ = open_recording(path, key)?.take(MAX_INDEX).read_to_end(&mut text);
    let Ok(value) = serde_json::from_slice::<Value>(&text) else { return Ok(None) };
    let Some(names) = index_parts(&value) else { return Ok(None) };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut parts = Vec::with_capacity(names.len());
    for name in names {
        if !plain_name(&name) {
            return Err(format_error(path, format!("part name {name:?} is not a plain file name")));
        }
        let part = dir.join(&name);
        if !part.is_file() {
            return Err(format_error(path, format!("part {name} is not beside the index")));
        }
        parts.push(part);
    }
    Ok(Some(parts))
}

/// Opens the recording a `<sid>.tar` download holds.
pub fn open_tar(
    path: &Path,
    key: Option<Arc<Key>>,
    options: &OpenOptions,
) -> Result<Box<dyn Recording>, PlaybackError> {
    let dir = private_dir(path)?;
    let result =
        unpack(path, &dir, key.as_deref(), options.limits).and_then(|members| choose(path, &dir, &members));
    let chosen = match result {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    match open_with(&chosen, key, options) {
        Ok(inner) => Ok(Box::new(Unpacked { inner, dir, name: path.display().to_string() })),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            Err(e)
        }
    }
}

fn private_dir(tar: &Path) -> Result<PathBuf, PlaybackError> {
    let name = format!(".video-worker-unpacked-{}-{:016x}", std::process::id(), rand::random::<u64>());
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    let beside = tar.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join(&name);
    if builder.create(&beside).is_ok() {
        return Ok(beside);
    }
    let dir = std::env::temp_dir().join(&name);
    builder.create(&dir).map_err(|e| TermError::Io { file: dir.display().to_string(), source: e })?;
    Ok(dir)
}

/// Unpacks the tar's files into `dir`. Core's download holds plain files
/// side by side (`<sid>.json`, the replay, or an index and its parts), so
/// anything else is refused rather than interpreted: a link, a device, a
/// path with a directory or `..`. The unpacked bytes count against
/// `limits` (`MAX_RECORDING_BYTES`) together.
pub fn unpack(
    path: &Path,
    dir: &Path,
    key: Option<&Key>,
    limits: InputLimits,
) -> Result<Vec<String>, PlaybackError> {
    let (reader, trip) = open_bounded(path, key, limits)?;
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| format_error(path, format!("not a readable tar: {e}")))?;
    let mut members = Vec::new();
    let mut unpacked = 0u64;
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                trip.check()?;
                if members.is_empty() {
                    return Err(format_error(path, format!("not a readable tar: {e}")));
                }
                tracing::warn!(file = %path.display(), "the tar breaks off after {} members: {e}", members.len());
                break;
            }
        };
        let Some(name) = member_name(path, &entry)? else { continue };
        if members.contains(&name) {
            return Err(format_error(path, format!("the tar holds {name} twice")));
        }
        if members.len() >= MAX_MEMBERS {
            return Err(format_error(path, format!("the tar holds over {MAX_MEMBERS} files")));
        }
        unpacked = unpacked.saturating_add(entry.header().size().unwrap_or(u64::MAX));
        if unpacked > limits.max_bytes {
            let why = format!("its files hold over {} bytes (MAX_RECORDING_BYTES)", limits.max_bytes);
            return Err(crate::guac::limits::LimitExceeded { file: path.display().to_string(), why }.into());
        }
        let target = dir.join(&name);
        let io = |e: std::io::Error| TermError::Io { file: target.display().to_string(), source: e };
        let file = std::fs::File::create(&target).map_err(io)?;
        let copied = match key {
            Some(key) => crate::seal::SealWriter::new(file, key)
                .and_then(|mut w| std::io::copy(&mut entry, &mut w).and_then(|_| w.finish()).map(|_| ())),
            None => {
                let mut w = std::io::BufWriter::new(file);
                std::io::copy(&mut entry, &mut w).and_then(|_| w.flush())
            }
        };
        trip.check()?;
        if let Err(e) = copied {
            tracing::warn!(file = %path.display(), member = %name, "member cut short: {e}");
        }
        members.push(name);
    }
    Ok(members)
}

/// The plain name of a regular member; `None` for a directory entry (the
/// tar's own structure, nothing to unpack); an error for everything a
/// download never holds.
fn member_name<R: Read>(tar: &Path, entry: &tar::Entry<'_, R>) -> Result<Option<String>, PlaybackError> {
    let raw = entry.path_bytes();
    let shown = String::from_utf8_lossy(&raw).into_owned();
    let kind = entry.header().entry_type();
    if kind.is_dir() {
        return Ok(None);
    }
    if !kind.is_file() {
        let what = if kind.is_symlink() || kind.is_hard_link() { "a link" } else { "not a plain file" };
        return Err(format_error(
            tar,
            format!("member {shown:?} is {what}; a download holds plain files only"),
        ));
    }
    match std::str::from_utf8(&raw) {
        Ok(name) if plain_name(name) => Ok(Some(name.to_string())),
        _ => Err(format_error(
            tar,
            format!("member {shown:?} is not a plain file name (no directories, no '..'); refused"),
        )),
    }
}

/// Which unpacked files make the recording.
fn choose(path: &Path, dir: &Path, members: &[String]) -> Result<Vec<PathBuf>, PlaybackError> {
    if let Some(index) = members.iter().find(|m| m.ends_with(".replay.json")) {
        return Ok(vec![dir.join(index)]);
    }
    // `<sid>.json` is the session's metadata, not a recording.
    let replays: Vec<PathBuf> =
        members.iter().filter(|m| !m.ends_with(".json")).map(|m| dir.join(m)).collect();
    if replays.is_empty() {
        return Err(format_error(path, format!("the tar holds no recording (only {})", members.join(", "))));
    }
    Ok(replays)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> (tempfile::TempDir, PathBuf) {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s1.tar");
        std::fs::write(&path, b.into_inner().unwrap()).unwrap();
        (dir, path)
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    }

    fn unpack_err(path: &Path, limits: InputLimits) -> String {
        let out = tempfile::tempdir().unwrap();
        unpack(path, out.path(), None, limits).expect_err("refused").to_string()
    }

    #[test]
    fn links_directories_and_climbing_paths_are_refused() {
        let (_d, link) = tar_with(|b| {
            file(b, "s1.json", b"{}");
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_cksum();
            b.append_link(&mut h, "s1.cast", "/etc/passwd").unwrap();
        });
        assert!(unpack_err(&link, InputLimits::default()).contains("is a link"));
        let (_d, nested) = tar_with(|b| file(b, "sub/s1.cast", b"x"));
        assert!(unpack_err(&nested, InputLimits::default()).contains("not a plain file name"));
        let (_d, twice) = tar_with(|b| {
            file(b, "a.cast", b"x");
            file(b, "a.cast", b"y");
        });
        assert!(unpack_err(&twice, InputLimits::default()).contains("twice"));
    }

    #[test]
    fn the_unpacked_size_counts_against_the_limit() {
        let (_d, big) = tar_with(|b| {
            file(b, "a.cast", &[b'a'; 3000]);
            file(b, "b.cast", &[b'b'; 3000]);
        });
        let e = unpack_err(&big, InputLimits { max_bytes: 5000, max_ratio: 1000 });
        assert!(e.contains("s1.tar") && e.contains("MAX_RECORDING_BYTES"), "{e}");
        let out = tempfile::tempdir().unwrap();
        let ok = unpack(&big, out.path(), None, InputLimits::default()).unwrap();
        assert_eq!(ok, ["a.cast", "b.cast"]);
    }

    #[test]
    fn names_from_an_index_must_be_plain() {
        assert!(plain_name("s1.0.part.gz"));
        assert!(!plain_name("../etc/passwd"));
        assert!(!plain_name("a\\b"));
        let v: Value = serde_json::json!({"files": [{"name": "b.1.part.gz"}, {"name": "b.0.part.gz"}]});
        assert_eq!(index_parts(&v), Some(vec!["b.1.part.gz".into(), "b.0.part.gz".into()]));
        assert_eq!(index_parts(&serde_json::json!({"1.0": "x"})), None);
    }
}
