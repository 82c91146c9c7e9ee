//! The replay storage core assigns to this worker (`TERMINAL_REPLAY_STORAGE`
//! in `GET /api/v1/terminal/terminals/config/`), parsed for every type with
//! its quirks:
//! - no top-level `TYPE` (core's default `{"default": {"TYPE": "server"}}`) means `server`;
//! - `ceph` arrives as `s3`; `swift` arrives with an extra `signer` key and is
//!   spoken to through its S3 API, as JumpServer's own Go client does;
//! - `sftp` has no client in the gateways either: like them, replays then go
//!   to core (`server`); so do `null` and unknown types (documented fallback:
//!   a recording that reached us must stay replayable).

use serde_json::Value;

pub use crate::storage::object::{ObjectStore, S3Like, Secret};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayStorage {
    /// Upload to core's replay API.
    Server,
    /// An object store: S3 and Ceph (sent as s3), Swift through its S3 API,
    /// COS, OSS, OBS, Azure Blob.
    Object(ObjectStore),
    /// A type with no backend here (`sftp`, `null`, unknown): replays go to
    /// core instead; the original type is kept for the log.
    Fallback { declared: String },
}

impl ReplayStorage {
    pub fn parse(config: &Value) -> ReplayStorage {
        let Some(kind) = config.get("TYPE").and_then(Value::as_str) else {
            return ReplayStorage::Server;
        };
        let text = |k: &str| config.get(k).and_then(Value::as_str).unwrap_or("").trim().to_string();
        let s3 = || S3Like {
            bucket: Some(text("BUCKET")).filter(|b| !b.is_empty()).unwrap_or_else(|| "jumpserver".into()),
            access_key: text("ACCESS_KEY"),
            secret_key: Secret(text("SECRET_KEY")),
            endpoint: text("ENDPOINT"),
            region: Some(text("REGION")).filter(|r| !r.is_empty()),
        };
        match kind.to_ascii_lowercase().as_str() {
            "server" => ReplayStorage::Server,
            "s3" | "ceph" | "swift" => ReplayStorage::Object(ObjectStore::S3(s3())),
            "cos" => ReplayStorage::Object(ObjectStore::Cos(s3())),
            "oss" => ReplayStorage::Object(ObjectStore::Oss(s3())),
            "obs" => ReplayStorage::Object(ObjectStore::Obs(s3())),
            "azure" => ReplayStorage::Object(ObjectStore::Azure {
                container: text("CONTAINER_NAME"),
                account_name: text("ACCOUNT_NAME"),
                account_key: Secret(text("ACCOUNT_KEY")),
                endpoint_suffix: Some(text("ENDPOINT_SUFFIX"))
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "core.chinacloudapi.cn".into()),
            }),
            other => ReplayStorage::Fallback { declared: other.to_string() },
        }
    }

    /// Where replays really go, for logs.
    pub fn describe(&self) -> String {
        match self {
            ReplayStorage::Server => "core (server)".into(),
            ReplayStorage::Object(o) => o.describe(),
            ReplayStorage::Fallback { declared } => {
                format!("core (server), since '{declared}' has no backend")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn core_default_without_type_is_server() {
        assert_eq!(ReplayStorage::parse(&json!({"default": {"TYPE": "server"}})), ReplayStorage::Server);
        assert_eq!(ReplayStorage::parse(&json!({"TYPE": "server"})), ReplayStorage::Server);
    }

    #[test]
    fn ceph_as_s3_and_swift_with_its_signer_are_s3() {
        let c = json!({"TYPE": "s3", "BUCKET": "rec", "ACCESS_KEY": "ak", "SECRET_KEY": "sk",
                       "ENDPOINT": "http://ceph:7480"});
        let ReplayStorage::Object(ObjectStore::S3(s3)) = ReplayStorage::parse(&c) else {
            panic!("s3 expected")
        };
        assert_eq!((s3.bucket.as_str(), s3.endpoint.as_str(), s3.region), ("rec", "http://ceph:7480", None));
        let swift = json!({"TYPE": "swift", "BUCKET": "b", "ACCESS_KEY": "a", "SECRET_KEY": "s",
                           "ENDPOINT": "swift.local", "REGION": "r1", "PROTOCOL": "https", "signer": "S3SignerType"});
        assert!(matches!(
            ReplayStorage::parse(&swift),
            ReplayStorage::Object(ObjectStore::S3(S3Like { region: Some(_), .. }))
        ));
    }

    #[test]
    fn every_type_parses() {
        for (kind, want) in [("cos", "cos"), ("oss", "oss"), ("obs", "obs")] {
            let d = ReplayStorage::parse(&json!({"TYPE": kind, "BUCKET": "b", "ENDPOINT": "e"})).describe();
            assert!(d.starts_with(want), "{d}");
        }
        let az = ReplayStorage::parse(&json!({"TYPE": "azure", "CONTAINER_NAME": "c", "ACCOUNT_NAME": "n",
                                              "ACCOUNT_KEY": "k", "ENDPOINT_SUFFIX": "core.windows.net"}));
        assert_eq!(az.describe(), "azure container c of n.blob.core.windows.net");
        for kind in ["sftp", "null", "floppy"] {
            assert!(matches!(ReplayStorage::parse(&json!({"TYPE": kind})), ReplayStorage::Fallback { .. }));
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let c = ReplayStorage::parse(&json!({"TYPE": "s3", "SECRET_KEY": "topsecret", "ACCESS_KEY": "ak"}));
        assert!(!format!("{c:?}").contains("topsecret"));
    }
}
