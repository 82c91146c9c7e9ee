//! Session metadata in the task store (a gateway's user, asset and address
//! names, a client's own fields) is sealed with `VIDEO_WORKER_SECRET_KEY`
//! when one is set, like the recordings: the database holds
//! `{"vw_sealed": "<base64 of a sealed file>"}` instead of the JSON.

use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::seal::{OpenReader, SealWriter};

const MARK: &str = "vw_sealed";

/// The text to store for `metadata`.
pub fn to_store(metadata: &Value) -> String {
    let text = metadata.to_string();
    let Some(key) = crate::seal::installed() else {
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

/// The metadata from stored text, opened when sealed.
pub fn from_store(text: &str) -> Value {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let Some(sealed) = value.get(MARK).and_then(Value::as_str) else {
        return value;
    };
    match open(sealed) {
        Ok(v) => v,
        Err(why) => json!({ MARK: format!("cannot be opened: {why}") }),
    }
}

fn open(sealed: &str) -> Result<Value, String> {
    let key = crate::seal::installed().ok_or("no VIDEO_WORKER_SECRET_KEY is configured")?;
    let bytes = STANDARD.decode(sealed).map_err(|e| e.to_string())?;
    let mut text = String::new();
    OpenReader::new(bytes.as_slice(), key)
        .and_then(|mut r| r.read_to_string(&mut text))
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}
