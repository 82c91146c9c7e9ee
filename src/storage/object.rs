//! Object stores (OpenDAL) for the replay storage core assigns: S3 and
//! Ceph (sent as s3), Swift (through its S3 API, as JumpServer's own Go
//! client does), COS, OSS, OBS and Azure Blob. Uploads stream from disk as
//! multipart uploads, retried with backoff by OpenDAL's retry layer; a task
//! that still fails is retried later by the task queue.

use std::path::Path;
use std::time::Duration;

use futures_util::future::BoxFuture;
use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::{Operator, services};

use super::stream_put::{self, PartPlan};
use super::{Storage, StorageError, Stored};
use crate::jumpserver::replay_storage::{ReplayStorage, S3Like};

pub struct ObjectStorage {
    op: Operator,
    label: String,
}

impl ObjectStorage {
    /// The object store for `storage`, or `None` when it is not one (core).
    pub fn for_replay(storage: &ReplayStorage) -> Option<Result<ObjectStorage, String>> {
        install_http_transport();
        let built = match storage {
            ReplayStorage::Server | ReplayStorage::Fallback { .. } => return None,
            ReplayStorage::S3(c) => Operator::new(s3(c)),
            ReplayStorage::Cos(c) => Operator::new(
                services::Cos::default()
                    .bucket(&c.bucket)
                    .endpoint(&with_scheme(&c.endpoint))
                    .secret_id(&c.access_key)
                    .secret_key(&c.secret_key.0)
                    .disable_config_load(),
            ),
            ReplayStorage::Oss(c) => Operator::new(
                services::Oss::default()
                    .bucket(&c.bucket)
                    .endpoint(&with_scheme(&c.endpoint))
                    .access_key_id(&c.access_key)
                    .access_key_secret(&c.secret_key.0),
            ),
            ReplayStorage::Obs(c) => Operator::new(
                services::Obs::default()
                    .bucket(&c.bucket)
                    .endpoint(&with_scheme(&c.endpoint))
                    .access_key_id(&c.access_key)
                    .secret_access_key(&c.secret_key.0),
            ),
            ReplayStorage::Azure { container, account_name, account_key, endpoint_suffix } => Operator::new(
                services::Azblob::default()
                    .container(container)
                    .endpoint(&azure_endpoint(account_name, endpoint_suffix))
                    .account_name(account_name)
                    .account_key(&account_key.0),
            ),
        };
        Some(
            built
                .map(|op| ObjectStorage { op: with_layers(op), label: storage.describe() })
                .map_err(|e| format!("{}: {e}", storage.describe())),
        )
    }
}

/// OpenDAL's process-wide HTTP client: reqwest with rustls on ring (OpenDAL's
/// own default would compile a second TLS stack, aws-lc). Installed once.
fn install_http_transport() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .user_agent(concat!("video-worker/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        opendal::HttpTransporter::install_default(opendal_http_transport_reqwest::ReqwestTransport::new(
            client,
        ));
    });
}

fn s3(c: &S3Like) -> services::S3 {
    let region = c.region.clone().unwrap_or_else(|| region_of(&c.endpoint));
    let mut b = services::S3::default()
        .bucket(&c.bucket)
        .endpoint(&with_scheme(&c.endpoint))
        .region(&region)
        .disable_ec2_metadata();
    // Like JumpServer's Go client: static keys when both are given, otherwise
    // the usual AWS credential chain (environment, profile, IAM role).
    if !c.access_key.is_empty() && !c.secret_key.0.is_empty() {
        b = b.access_key_id(&c.access_key).secret_access_key(&c.secret_key.0).disable_config_load();
    }
    b
}

/// Retries (exponential with jitter) for each request, parts included, and a
/// time limit on every I/O step so a stalled endpoint fails instead of hanging.
fn with_layers(op: Operator) -> Operator {
    op.layer(TimeoutLayer::new().with_io_timeout(Duration::from_secs(120)))
        .layer(RetryLayer::new().with_max_times(4).with_jitter())
}

/// Endpoints arrive with or without a scheme (OBS's examples have none).
fn with_scheme(endpoint: &str) -> String {
    let e = endpoint.trim().trim_end_matches('/');
    if e.starts_with("http://") || e.starts_with("https://") { e.to_string() } else { format!("https://{e}") }
}

/// `https://<account>.blob.<suffix>`; a suffix that is a whole URL is used as
/// the endpoint (Azurite, Azure Stack, private endpoints).
fn azure_endpoint(account: &str, suffix: &str) -> String {
    if suffix.starts_with("http://") || suffix.starts_with("https://") {
        suffix.trim_end_matches('/').to_string()
    } else {
        format!("https://{account}.blob.{suffix}")
    }
}

/// The region in an AWS endpoint (`s3.<region>.amazonaws.com`,
/// `s3-<region>.amazonaws.com`); other S3-compatible stores ignore it.
fn region_of(endpoint: &str) -> String {
    let host = endpoint.trim().trim_start_matches("https://").trim_start_matches("http://");
    let host = host.split(['/', ':']).next().unwrap_or("");
    let labels: Vec<&str> = host.split('.').collect();
    if host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn") {
        for (i, l) in labels.iter().enumerate() {
            if let Some(r) = l.strip_prefix("s3-") {
                return r.to_string();
            }
            if *l == "s3" && i + 1 < labels.len() && labels[i + 1] != "amazonaws" {
                return labels[i + 1].to_string();
            }
        }
    }
    "us-east-1".to_string()
}

impl Storage for ObjectStorage {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn put_file<'a>(&'a self, key: &'a str, file: &'a Path) -> BoxFuture<'a, Result<Stored, StorageError>> {
        Box::pin(stream_put::put(&self.op, &self.label, key, file, PartPlan::for_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_come_from_aws_endpoints_only() {
        assert_eq!(region_of("https://s3.ap-southeast-1.amazonaws.com"), "ap-southeast-1");
        assert_eq!(region_of("s3-eu-west-1.amazonaws.com"), "eu-west-1");
        assert_eq!(region_of("https://s3.cn-north-1.amazonaws.com.cn"), "cn-north-1");
        assert_eq!(region_of("http://ceph.local:7480"), "us-east-1");
    }

    #[test]
    fn endpoints_get_a_scheme_and_azure_accepts_a_url() {
        assert_eq!(
            with_scheme("obs.cn-north-4.myhuaweicloud.com"),
            "https://obs.cn-north-4.myhuaweicloud.com"
        );
        assert_eq!(with_scheme("http://minio:9000/"), "http://minio:9000");
        assert_eq!(azure_endpoint("acc", "core.windows.net"), "https://acc.blob.core.windows.net");
        assert_eq!(azure_endpoint("acc", "http://127.0.0.1:10000/acc"), "http://127.0.0.1:10000/acc");
    }

    #[test]
    fn core_and_unknown_kinds_are_not_object_stores() {
        assert!(ObjectStorage::for_replay(&ReplayStorage::Server).is_none());
        assert!(ObjectStorage::for_replay(&ReplayStorage::Fallback { declared: "sftp".into() }).is_none());
    }
}
