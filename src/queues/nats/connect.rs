//! Connecting to NATS and making the stream, consumer and buckets the worker
//! needs (each created only when absent, so every node may start first).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, object_store, stream};

use super::records::Records;
use super::staging::{NatsStaging, Staging};
use super::{CONSUMER, ClusterError, STAGING_BUCKET, STREAM, SUBJECT, TASKS_BUCKET};
use crate::config::Cluster;
use crate::seal::Key;

/// A client that connects (and reconnects) in the background: a node starts
/// and accepts recordings while NATS is away.
pub async fn connect(c: &Cluster, node: &str) -> Result<async_nats::Client, ClusterError> {
    let mut o = async_nats::ConnectOptions::new()
        .name(format!("video-worker {node}"))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5));
    if let Some(path) = &c.creds_file {
        o = o
            .credentials_file(path)
            .await
            .map_err(|e| ClusterError::new(format!("NATS_CREDS_FILE {}", path.display()), e))?;
    }
    if let Some(token) = &c.token {
        o = o.token(token.expose().to_string());
    }
    if let Some((user, password)) = &c.user_password {
        o = o.user_and_password(user.clone(), password.expose().to_string());
    }
    if let Some(ca) = &c.tls_ca_file {
        o = o.add_root_certificates(ca.clone()).require_tls(true);
    }
    o.connect(c.urls.clone())
        .await
        .map_err(|e| ClusterError::new(format!("connect to {}", c.urls.join(",")), e))
}

/// The JetStream objects, once they exist.
pub struct Objects {
    pub js: jetstream::Context,
    pub stream: stream::Stream,
    pub consumer: consumer::PullConsumer,
    pub records: Records,
    pub staging: Arc<dyn Staging>,
}

/// Finds or creates the stream, the transcoders' consumer and both buckets.
/// `staging` overrides the object-store bucket (`STAGING=s3`).
pub async fn objects(
    client: &async_nats::Client,
    c: &Cluster,
    key: Option<Arc<Key>>,
    staging: Option<Arc<dyn Staging>>,
) -> Result<Objects, ClusterError> {
    let js = jetstream::new(client.clone());
    let stream = js
        .get_or_create_stream(stream::Config {
            name: STREAM.into(),
            subjects: vec![SUBJECT.into()],
            description: Some("video-worker: recordings waiting for a transcoder".into()),
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            num_replicas: c.replicas,
            // A publish retried within this window is never a second job.
            duplicate_window: Duration::from_secs(600),
            ..Default::default()
        })
        .await
        .map_err(|e| ClusterError::new(format!("stream {STREAM}"), e))?;
    let consumer = stream
        .get_or_create_consumer(
            CONSUMER,
            consumer::pull::Config {
                durable_name: Some(CONSUMER.into()),
                description: Some("video-worker transcoders".into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: c.ack_wait,
                // Never given up: a job that keeps failing transiently is
                // retried (with backoff) while its recording exists.
                max_deliver: -1,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| ClusterError::new(format!("consumer {CONSUMER}"), e))?;
    let kv = match js.get_key_value(TASKS_BUCKET).await {
        Ok(kv) => kv,
        Err(_) => js
            .create_key_value(kv::Config {
                bucket: TASKS_BUCKET.into(),
                description: "video-worker task records".into(),
                history: 1,
                storage: stream::StorageType::File,
                num_replicas: c.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| ClusterError::new(format!("KV bucket {TASKS_BUCKET}"), e))?,
    };
    let staging = match staging {
        Some(s) => s,
        None => {
            let store = match js.get_object_store(STAGING_BUCKET).await {
                Ok(s) => s,
                Err(_) => js
                    .create_object_store(object_store::Config {
                        bucket: STAGING_BUCKET.into(),
                        description: Some("video-worker recordings waiting for a transcoder".into()),
                        storage: stream::StorageType::File,
                        num_replicas: c.replicas,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| ClusterError::new(format!("object store {STAGING_BUCKET}"), e))?,
            };
            Arc::new(NatsStaging::new(store)) as Arc<dyn Staging>
        }
    };
    Ok(Objects { js, stream, consumer, records: Records::new(kv, key), staging })
}
