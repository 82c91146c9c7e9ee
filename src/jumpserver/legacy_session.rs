//! Cookie sessions for old Lions (v3.3 to v3.10.7). They sign each request
//! for its own path, which core cannot check for us, but they first call
//! `GET /api/v1/users/profile/` on the worker, signed for exactly that path:
//! the worker has core check it, then issues a cookie, and their cookie jar
//! sends it with every later request (the upload, the `/ws/events/` socket).
//!
//! The cookie is `<account>.<expiry>.<mac>`: an HMAC-SHA256 under a key kept
//! in `DATA_DIR/keys/.session_key` (0600), so it survives restarts and
//! holds no secret of the gateway.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const COOKIE: &str = "vw_session";
/// How long a session lasts; old Lions log in again only when restarted,
/// so this is long, and each authenticated request renews nothing.
const LIFETIME_SECS: i64 = 30 * 24 * 3600;

pub struct LegacySessions {
    key: Vec<u8>,
}

impl LegacySessions {
    /// Loads the key, creating it (0600) on first use.
    pub fn open(keys_dir: &Path) -> std::io::Result<LegacySessions> {
        let path = keys_dir.join(".session_key");
        if let Ok(key) = std::fs::read(&path)
            && key.len() == 32
        {
            return Ok(LegacySessions { key });
        }
        std::fs::create_dir_all(keys_dir)?;
        let key: [u8; 32] = rand::random();
        let mut f =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path)?;
        f.write_all(&key)?;
        f.sync_all()?;
        Ok(LegacySessions { key: key.to_vec() })
    }

    fn hmac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(payload.as_bytes());
        mac
    }

    fn mac(&self, payload: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.hmac(payload).finalize().into_bytes())
    }

    /// A cookie value for `account`, valid from `now` (Unix seconds).
    pub fn issue(&self, account: &str, now: i64) -> String {
        let payload = format!("{}.{}", URL_SAFE_NO_PAD.encode(account), now + LIFETIME_SECS);
        format!("{payload}.{}", self.mac(&payload))
    }

    /// The account of a valid, unexpired cookie.
    pub fn verify(&self, cookie: &str, now: i64) -> Option<String> {
        let (payload, mac) = cookie.rsplit_once('.')?;
        // `verify_slice` compares in constant time.
        self.hmac(payload).verify_slice(&URL_SAFE_NO_PAD.decode(mac).ok()?).ok()?;
        let (account, expiry) = payload.split_once('.')?;
        (expiry.parse::<i64>().ok()? > now).then_some(())?;
        String::from_utf8(URL_SAFE_NO_PAD.decode(account).ok()?).ok()
    }

    /// Finds our cookie in a `Cookie` header and verifies it.
    pub fn from_header(&self, header: &str, now: i64) -> Option<String> {
        header
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .filter(|(name, _)| *name == COOKIE)
            .find_map(|(_, value)| self.verify(value, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn cookies_verify_expire_and_resist_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let s = LegacySessions::open(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(".session_key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let c = s.issue("lion-1", 1000);
        assert_eq!(s.verify(&c, 1001).as_deref(), Some("lion-1"));
        assert_eq!(s.verify(&c, 1000 + LIFETIME_SECS + 1), None, "expired");
        let forged = c.replacen(&URL_SAFE_NO_PAD.encode("lion-1"), &URL_SAFE_NO_PAD.encode("admin"), 1);
        assert_eq!(s.verify(&forged, 1001), None);
        let header = format!("other=1; {COOKIE}={c}; x=y");
        assert_eq!(s.from_header(&header, 1001).as_deref(), Some("lion-1"));
        let again = LegacySessions::open(dir.path()).unwrap();
        assert_eq!(again.verify(&c, 1001).as_deref(), Some("lion-1"), "the key survives a restart");
    }
}
