//! Object stores (OpenDAL): S3 and S3-compatible stores (Ceph, Swift's S3
//! API, MinIO), COS, OSS, OBS and Azure Blob. Uploads stream from disk as
//! multipart uploads, retried with backoff by OpenDAL's retry layer; a task
//! that still fails is retried later by the task queue. Which store, with
//! which credentials, is the caller's to say ([`ObjectStore`]).

use std::path::Path;
use std::time::Duration;

use futures_util::future::BoxFuture;
use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::{Operator, services};

use super::stream_put::{self, PartPlan};
use crate::pipeline::ports::{Fetched, Storage, StorageError, Stored};

/// Credentials are kept out of `Debug` output and logs.
pub use crate::secret::Secret;

/// A bucket with keys, the shape of S3 and the S3-like stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Like {
    pub bucket: String,
    pub access_key: String,
    pub secret_key: Secret,
    pub endpoint: String,
    pub region: Option<String>,
}

/// An object store and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectStore {
    S3(S3Like),
    Cos(S3Like),
    Oss(S3Like),
    Obs(S3Like),
    Azure { container: String, account_name: String, account_key: Secret, endpoint_suffix: String },
}

impl ObjectStore {
    /// Where objects go, for logs (no credentials).
    pub fn describe(&self) -> String {
        match self {
            ObjectStore::S3(c) => format!("s3 bucket {} at {}", c.bucket, c.endpoint),
            ObjectStore::Cos(c) => format!("cos bucket {} at {}", c.bucket, c.endpoint),
            ObjectStore::Oss(c) => format!("oss bucket {} at {}", c.bucket, c.endpoint),
            ObjectStore::Obs(c) => format!("obs bucket {} at {}", c.bucket, c.endpoint),
            ObjectStore::Azure { container, account_name, endpoint_suffix, .. } => {
                format!("azure container {container} of {account_name}.blob.{endpoint_suffix}")
            }
        }
    }
}

pub struct ObjectStorage {
    op: Operator,
    label: String,
}

impl ObjectStorage {
    /// The storage for `store`, speaking HTTP through `http` (one client for
    /// every store: rustls on ring, no second TLS stack).
    pub fn new(store: &ObjectStore, http: &reqwest::Client) -> Result<ObjectStorage, String> {
        let built = match store {
            ObjectStore::S3(c) => Operator::new(s3(c)),
            ObjectStore::Cos(c) => Operator::new(
                services::Cos::default()
                    .bucket(&c.bucket)
                    .endpoint(&with_scheme(&c.endpoint))
                    .secret_id(&c.access_key)
                    .secret_key(&c.secret_key.0)
                    .disable_config_load(),
            ),
            ObjectStore::Oss(c) => Operator::new(
                services::Oss::default()
                    .bucket(&c.bucket)
                    .endpoint(&with_scheme(&c.endpoint))
                    .access_key_id(&c.access_key)
                    .access_key_secret(&c.secret_key.0),
            ),
            ObjectStore::Obs(c) => Operator::new(
                services::Obs::default()
                    .bucket(&c.bucket)
                    .endpoint(&with_scheme(&c.endpoint))
                    .access_key_id(&c.access_key)
                    .secret_access_key(&c.secret_key.0),
            ),
            ObjectStore::Azure { container, account_name, account_key, endpoint_suffix } => Operator::new(
                services::Azblob::default()
                    .container(container)
                    .endpoint(&azure_endpoint(account_name, endpoint_suffix))
                    .account_name(account_name)
                    .account_key(&account_key.0),
            ),
        };
        let op = built.map_err(|e| format!("{}: {e}", store.describe()))?;
        let transport = opendal::HttpTransporter::new(opendal_http_transport_reqwest::ReqwestTransport::new(
            http.clone(),
        ));
        let context = op.context().clone().with_http_transport(transport);
        let op = op.with_context(context);
        Ok(ObjectStorage { op: with_layers(op), label: store.describe() })
    }
}

impl ObjectStorage {
    /// The OpenDAL operator (staging reads and deletes through it).
    pub fn operator(&self) -> &Operator {
        &self.op
    }
}

/// The HTTP client object stores speak through.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .user_agent(concat!("video-worker/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
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

    fn read<'a>(
        &'a self,
        key: &'a str,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, Result<Option<Fetched>, StorageError>> {
        Box::pin(async move {
            let failed = |e: opendal::Error| StorageError::Read {
                storage: self.label.clone(),
                key: key.to_string(),
                source: Box::new(e),
            };
            let size = self.op.stat(key).await.map_err(failed)?.content_length();
            let reader = self.op.reader(key).await.map_err(failed)?;
            let (first, last) = range.unwrap_or((0, size.saturating_sub(1)));
            let bytes =
                reader.into_bytes_stream(first..last.saturating_add(1).min(size)).await.map_err(failed)?;
            Ok(Some(Fetched { size, body: Box::pin(bytes) }))
        })
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
}
