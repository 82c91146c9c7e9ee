//! The access key core issues at registration, kept in
//! `DATA_DIR/keys/.access_key` as `id:secret` (no newline), mode 0600, as
//! sdk-go keeps it. A key being replaced is renamed aside with a timestamp
//! (`.access_key_YYYY-MM-DD_HH-MM-SS`), never overwritten.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::signer::AccessKey;

pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join(".access_key")
}

/// The stored key; `Ok(None)` when there is none or it is malformed
/// (registration then makes a new one).
pub fn load(path: &Path) -> std::io::Result<Option<AccessKey>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(AccessKey::parse(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Saves a new key: the old file (if any) is renamed aside, the new one
/// written to a temporary file with mode 0600 and renamed into place.
pub fn save(path: &Path, key: &AccessKey) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    if path.exists() {
        let stamp = chrono::Local::now().format("%Y-%m-%d_%H-%M-%S");
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        std::fs::rename(path, dir.join(format!("{name}_{stamp}")))?;
    }
    let tmp = dir.join(".access_key.tmp");
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    file.write_all(key.to_file_text().as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_with_0600_and_keeps_the_old_key_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_path(dir.path());
        assert_eq!(load(&path).unwrap(), None);
        let first = AccessKey { id: "id1".into(), secret: "sec1".into() };
        save(&path, &first).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "id1:sec1");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let second = AccessKey { id: "id2".into(), secret: "sec2".into() };
        save(&path, &second).unwrap();
        assert_eq!(load(&path).unwrap(), Some(second));
        let aside: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with(".access_key_"))
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
    }

    #[test]
    fn malformed_keys_read_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(load(&path).unwrap(), None);
    }
}
