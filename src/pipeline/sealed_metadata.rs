//! Session metadata in the task store (a gateway's user, asset and address
//! names, a client's own fields) is sealed with `VIDEO_WORKER_SECRET_KEY`
//! when one is set, like the recordings: the database holds
//! `{"vw_sealed": "<base64 of a sealed file>"}` instead of the JSON.

use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::seal::{Key, OpenReader, SealWriter};

const MARK: &str = "vw_sealed";

/// The text to store for `value`, sealed with `key` when there is one.
pub fn to_store(value: &Value, key: Option<&Key>) -> String {
    let text = value.to_string();
    let Some(key) = key else {
        return text;
    };
    let sealed = SealWriter::new(Vec::new(), key).and_then(|mut w| {
        w.write_all(text.as_bytes())?;
        w.finish()
    });
    match sealed {
        Ok(bytes) => json!({ MARK: STANDARD.encode(bytes) }).to_string(),
        // Sealing into memory cannot fail; never store clear text if it did.
        Err(e) => json!({ MARK: format!("not sealed: {e}") }).to_string(),
    }
}

/// The value from stored text, opened when sealed.
pub fn from_store(text: &str, key: Option<&Key>) -> Result<Value, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Some(sealed) = value.get(MARK).and_then(Value::as_str) else {
        return Ok(value);
    };
    let key = key.ok_or("sealed, but no VIDEO_WORKER_SECRET_KEY is configured")?;
    let bytes = STANDARD.decode(sealed).map_err(|e| e.to_string())?;
    let mut text = String::new();
    OpenReader::new(bytes.as_slice(), key)
        .and_then(|mut r| r.read_to_string(&mut text))
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// [`from_store`] for fields shown to admins: an unreadable value says why.
pub fn from_store_or_note(text: &str, key: Option<&Key>) -> Value {
    from_store(text, key).unwrap_or_else(|why| json!({ MARK: format!("cannot be opened: {why}") }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_hold_no_clear_text_and_open_only_with_the_key() {
        let key = Key::from_secret(&"k".repeat(32)).unwrap();
        let value = json!({"user": "alice@example"});
        let stored = to_store(&value, Some(&key));
        assert!(!stored.contains("alice"), "{stored}");
        assert_eq!(from_store(&stored, Some(&key)).unwrap(), value);
        assert!(from_store(&stored, None).unwrap_err().contains("VIDEO_WORKER_SECRET_KEY"));
        let other = Key::from_secret(&"x".repeat(32)).unwrap();
        assert!(from_store(&stored, Some(&other)).is_err());
        assert_eq!(from_store(&to_store(&value, None), None).unwrap(), value);
    }
}
