//! Configuration: an env file (`config.txt`, `KEY=value` lines) and then
//! environment variables, which win. Every key is typed and checked at
//! start-up; a wrong value stops the service with a message naming the key
//! and what is allowed (never the value of a secret).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::encode::{EncodeSettings, Quality, parse_size};
pub use crate::pipeline::role::Role;
use crate::secret::Secret;

/// Keys whose values are never printed or logged.
pub const SECRET_KEYS: &[&str] = &[
    "BOOTSTRAP_TOKEN",
    "VIDEO_WORKER_SECRET_KEY",
    "VIDEO_WORKER_API_TOKEN",
    "NATS_TOKEN",
    "NATS_PASSWORD",
    "STAGING_S3_SECRET_KEY",
];

/// Every key this service reads, with its default (empty = unset).
pub const KEYS: &[(&str, &str)] = &[
    ("NAME", ""),
    ("CORE_HOST", ""),
    ("BOOTSTRAP_TOKEN", ""),
    ("BIND_HOST", "0.0.0.0"),
    ("HTTPD_PORT", "9000"),
    ("LOG_LEVEL", "INFO"),
    ("LOG_FORMAT", "text"),
    ("VIDEO_WORKER_COUNT", "0"),
    ("VIDEO_WORKER_SECRET_KEY", ""),
    ("VIDEO_WORKER_CLEAN_PERIOD", "7"),
    ("VIDEO_WORKER_CLEAN_SCHEDULE", "0 0 3 * * *"),
    ("VIDEO_WORKER_API_TOKEN", ""),
    ("ALLOWED_HOSTS", ""),
    ("IGNORE_VERIFY_CERTS", "false"),
    ("DATA_DIR", "data"),
    ("LOCAL_STORAGE_DIR", ""),
    ("INBOX_DIR", ""),
    ("INBOX_POLL_SECONDS", "5"),
    ("POST_PROCESSING_SCRIPTS", ""),
    ("POST_PROCESSING_TIMEOUT", "60"),
    ("FFMPEG_PATH", "ffmpeg"),
    ("VIDEO_QUALITY", "normal"),
    ("VIDEO_CRF", ""),
    ("VIDEO_PRESET", ""),
    ("VIDEO_FPS", "25"),
    ("VIDEO_MAX_SIZE", ""),
    ("TERMINAL_FONT", ""),
    ("KEYSTROKE_TRACK", "off"),
    ("THUMBNAILS", "auto"),
    ("THUMBNAIL_INTERVAL_SECONDS", "10"),
    ("FFMPEG_STALL_SECONDS", "300"),
    ("MAX_UPLOAD_SIZE", "20G"),
    ("MAX_RECORDING_BYTES", "16G"),
    ("SHUTDOWN_GRACE_SECONDS", "30"),
    ("RETRY_MAX_DELAY_SECONDS", "600"),
    ("INCOMPLETE_TASK_TIMEOUT", "3600"),
    ("MAX_PARTS_PER_TASK", "10000"),
    ("MAX_CONCURRENT_UPLOADS", "32"),
    ("MAX_PENDING_TASKS", "10000"),
    ("VIDEO_WORKER_ROLE", "all"),
    ("NATS_URL", ""),
    ("NATS_CREDS_FILE", ""),
    ("NATS_TOKEN", ""),
    ("NATS_USER", ""),
    ("NATS_PASSWORD", ""),
    ("NATS_TLS_CA_FILE", ""),
    ("NATS_REPLICAS", "1"),
    ("NATS_ACK_WAIT_SECONDS", "60"),
    ("STAGING", "nats"),
    ("STAGING_S3_ENDPOINT", ""),
    ("STAGING_S3_BUCKET", ""),
    ("STAGING_S3_REGION", ""),
    ("STAGING_S3_ACCESS_KEY", ""),
    ("STAGING_S3_SECRET_KEY", ""),
];

/// Where received recordings wait for a transcoder (`STAGING`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staging {
    /// A JetStream object store bucket.
    Nats,
    /// An S3 bucket (through OpenDAL).
    S3 { endpoint: String, bucket: String, region: Option<String>, access_key: String, secret_key: Secret },
}

/// The cluster queue (`NATS_URL` and its companions).
#[derive(Debug, Clone)]
pub struct Cluster {
    /// One or more server URLs.
    pub urls: Vec<String>,
    pub creds_file: Option<PathBuf>,
    pub token: Option<Secret>,
    pub user_password: Option<(String, Secret)>,
    pub tls_ca_file: Option<PathBuf>,
    /// Replicas of the stream and buckets the worker creates (1, 3 or 5).
    pub replicas: usize,
    /// How long a transcoder may go silent before its job goes to another.
    pub ack_wait: std::time::Duration,
    pub staging: Staging,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The service's effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub name: String,
    pub core_host: Option<String>,
    pub bootstrap_token: Option<Secret>,
    pub bind_host: IpAddr,
    pub port: u16,
    pub log_level: tracing::Level,
    pub log_format: LogFormat,
    /// Worker pool size, resolved (never 0).
    pub workers: usize,
    pub secret_key: Option<Secret>,
    /// Days after which finished tasks are removed.
    pub clean_period_days: u32,
    /// A font put before the default chain for terminal recordings (`PATH` or `PATH#FACE`).
    pub terminal_font: Option<String>,
    /// Where what was typed goes (KEYSTROKE_TRACK): nowhere by default.
    pub keystrokes: crate::keys::KeyTrack,
    /// The thumbnail strip (THUMBNAILS): on unless JumpServer's core,
    /// which would not know the files, is the destination.
    pub thumbnails: Option<crate::thumbnails::ThumbnailSettings>,
    /// When the cleanup runs (cron, seconds first).
    pub clean_schedule: String,
    pub api_token: Option<Secret>,
    /// Host names (besides loopback ones) the API and console answer
    /// without a token (`ALLOWED_HOSTS`; `name` or `name:port`).
    pub allowed_hosts: Vec<String>,
    pub ignore_verify_certs: bool,
    pub data_dir: PathBuf,
    pub local_storage_dir: PathBuf,
    pub inbox_dir: Option<PathBuf>,
    pub inbox_poll_seconds: u64,
    pub post_processing_scripts: Vec<PathBuf>,
    pub post_processing_timeout: u64,
    pub encode: EncodeSettings,
    pub max_upload_bytes: u64,
    /// What one received file may become once decompressed (MAX_RECORDING_BYTES).
    pub max_recording_bytes: u64,
    pub shutdown_grace_seconds: u64,
    pub retry_max_delay_seconds: u64,
    /// Parts a gateway may announce for one task.
    pub max_parts_per_task: usize,
    /// Upload bodies streaming in at once (beyond: 503).
    pub max_concurrent_uploads: usize,
    /// Unfinished tasks before new uploads get 503.
    pub max_pending_tasks: u64,
    /// How long a gateway task may wait for its next part before it is dropped.
    pub incomplete_task_timeout: std::time::Duration,
    pub role: Role,
    /// Set: the cluster queue on NATS JetStream; unset: one node on SQLite.
    pub cluster: Option<Cluster>,
}

/// A configuration problem, worded for the admin.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// The raw key/value pairs, from the file then the environment.
pub struct Sources {
    values: BTreeMap<String, String>,
    /// Where each value came from, for `check-config`.
    origin: BTreeMap<String, String>,
}

impl Sources {
    /// Reads `file` (if given, it must exist; if not, `config.txt` is read
    /// when present) and then the environment.
    pub fn load(file: Option<&Path>) -> Result<Sources, ConfigError> {
        let mut values = BTreeMap::new();
        let mut origin = BTreeMap::new();
        let path = match file {
            Some(p) if !p.is_file() => {
                return Err(ConfigError(format!("config file {} does not exist", p.display())));
            }
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("config.txt")).filter(|p| p.is_file()),
        };
        if let Some(path) = &path {
            let entries = dotenvy::from_path_iter(path)
                .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
            for entry in entries {
                let (k, v) =
                    entry.map_err(|e| ConfigError(format!("{}: malformed line: {e}", path.display())))?;
                if !KEYS.iter().any(|(key, _)| *key == k) {
                    tracing::warn!(key = %k, file = %path.display(), "unknown configuration key ignored");
                }
                origin.insert(k.clone(), path.display().to_string());
                values.insert(k, v);
            }
        }
        for (key, _) in KEYS {
            if let Ok(v) = std::env::var(key) {
                values.insert(key.to_string(), unquote(&v).to_string());
                origin.insert(key.to_string(), "environment".into());
            }
        }
        Ok(Sources { values, origin })
    }

    /// From explicit pairs (tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Sources {
        Sources {
            values: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            origin: BTreeMap::new(),
        }
    }

    fn get(&self, key: &str) -> String {
        self.values.get(key).cloned().unwrap_or_else(|| {
            KEYS.iter().find(|(k, _)| *k == key).map(|(_, d)| d.to_string()).unwrap_or_default()
        })
    }

    pub fn optional(&self, key: &str) -> Option<String> {
        Some(self.get(key).trim().to_string()).filter(|v| !v.is_empty())
    }

    /// Every key with its effective value (secrets masked) and origin.
    pub fn describe(&self) -> Vec<(String, String, String)> {
        KEYS.iter()
            .map(|(key, _)| {
                let value = self.get(key);
                let shown =
                    if SECRET_KEYS.contains(key) && !value.is_empty() { "******".to_string() } else { value };
                let origin = self.origin.get(*key).cloned().unwrap_or_else(|| "default".into());
                (key.to_string(), shown, origin)
            })
            .collect()
    }
}

/// Docker's `env_file` passes quotes literally; an env file read by us does
/// not. Either way the value is the same.
fn unquote(v: &str) -> &str {
    let t = v.trim();
    for q in ['"', '\''] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            return &t[1..t.len() - 1];
        }
    }
    v
}

fn bad(key: &str, value: &str, allowed: &str) -> ConfigError {
    if SECRET_KEYS.contains(&key) {
        ConfigError(format!("{key} has a value that is not allowed: {allowed}"))
    } else {
        ConfigError(format!("{key}={value:?} is not allowed: {allowed}"))
    }
}

/// A count of 1 or more.
fn positive(s: &Sources, key: &str) -> Result<u64, ConfigError> {
    let v: u64 = number(s, key, "a number (1 or more)")?;
    if v == 0 { Err(bad(key, "0", "1 or more")) } else { Ok(v) }
}

/// THUMBNAILS `auto` (on in standalone mode, off with `CORE_HOST`), `on`, `off`.
fn thumbnails(
    s: &Sources,
    jumpserver: bool,
) -> Result<Option<crate::thumbnails::ThumbnailSettings>, ConfigError> {
    let v = s.get("THUMBNAILS");
    let on = match v.trim().to_ascii_lowercase().as_str() {
        "auto" | "" => !jumpserver,
        "on" | "true" | "1" => true,
        "off" | "false" | "0" => false,
        _ => return Err(bad("THUMBNAILS", &v, "auto, on or off")),
    };
    let interval: u64 = number(s, "THUMBNAIL_INTERVAL_SECONDS", "a number of seconds (1 or more)")?;
    if interval == 0 {
        return Err(bad("THUMBNAIL_INTERVAL_SECONDS", "0", "1 or more"));
    }
    Ok(on.then(|| crate::thumbnails::ThumbnailSettings {
        interval_ms: interval as i64 * 1000,
        ..Default::default()
    }))
}

fn number<T: std::str::FromStr>(s: &Sources, key: &str, allowed: &str) -> Result<T, ConfigError> {
    let v = s.get(key);
    v.trim().parse::<T>().map_err(|_| bad(key, &v, allowed))
}

fn boolean(s: &Sources, key: &str) -> Result<bool, ConfigError> {
    let v = s.get(key);
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(bad(key, &v, "true or false")),
    }
}

/// "20G", "512M", "1048576" to bytes.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_uppercase();
    let t = t.strip_suffix('B').unwrap_or(&t);
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let factor: u64 = match unit {
        "" => 1,
        "K" | "KI" => 1 << 10,
        "M" | "MI" => 1 << 20,
        "G" | "GI" => 1 << 30,
        "T" | "TI" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// Usable CPUs, honouring cgroup quotas and affinity (a container pinned
/// to 2 CPUs gets 2, whatever the host has).
pub fn usable_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "video-worker".into())
}

/// `ALLOWED_HOSTS`: a comma-separated list of host names, each maybe with a port.
fn allowed_hosts(s: &Sources) -> Result<Vec<String>, ConfigError> {
    let v = s.get("ALLOWED_HOSTS");
    let hosts: Vec<String> =
        v.split(',').map(str::trim).filter(|h| !h.is_empty()).map(str::to_ascii_lowercase).collect();
    let plain = |h: &String| {
        h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    };
    if !hosts.iter().all(plain) {
        return Err(bad(
            "ALLOWED_HOSTS",
            &v,
            "host names (with an optional port), comma-separated, e.g. worker.internal,worker.internal:9000",
        ));
    }
    Ok(hosts)
}

fn role(s: &Sources) -> Result<Role, ConfigError> {
    let v = s.get("VIDEO_WORKER_ROLE");
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "all" => Ok(Role::All),
        "receiver" => Ok(Role::Receiver),
        "transcoder" => Ok(Role::Transcoder),
        _ => Err(bad("VIDEO_WORKER_ROLE", &v, "all, receiver or transcoder")),
    }
}

fn cluster(s: &Sources) -> Result<Option<Cluster>, ConfigError> {
    let Some(url) = s.optional("NATS_URL") else {
        return Ok(None);
    };
    let urls: Vec<String> =
        url.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect();
    if urls.iter().any(|u| u.contains(char::is_whitespace)) {
        return Err(bad("NATS_URL", &url, "one URL or a comma-separated list, e.g. nats://10.0.0.5:4222"));
    }
    let replicas: usize = number(s, "NATS_REPLICAS", "1, 3 or 5")?;
    if ![1, 3, 5].contains(&replicas) {
        return Err(bad("NATS_REPLICAS", &replicas.to_string(), "1, 3 or 5"));
    }
    let user_password = match (s.optional("NATS_USER"), s.optional("NATS_PASSWORD")) {
        (Some(u), Some(p)) => Some((u, Secret(p))),
        (None, None) => None,
        _ => return Err(ConfigError("NATS_USER and NATS_PASSWORD go together: set both or neither".into())),
    };
    let file = |key: &str| -> Result<Option<PathBuf>, ConfigError> {
        match s.optional(key).map(PathBuf::from) {
            Some(p) if !p.is_file() => Err(bad(key, &p.display().to_string(), "the path of a readable file")),
            p => Ok(p),
        }
    };
    Ok(Some(Cluster {
        urls,
        creds_file: file("NATS_CREDS_FILE")?,
        token: s.optional("NATS_TOKEN").map(Secret),
        user_password,
        tls_ca_file: file("NATS_TLS_CA_FILE")?,
        replicas,
        ack_wait: std::time::Duration::from_secs(positive(s, "NATS_ACK_WAIT_SECONDS")?),
        staging: staging(s)?,
    }))
}

fn staging(s: &Sources) -> Result<Staging, ConfigError> {
    let v = s.get("STAGING");
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "nats" => Ok(Staging::Nats),
        "s3" => {
            let need =
                |key: &str| s.optional(key).ok_or_else(|| ConfigError(format!("STAGING=s3 needs {key}")));
            Ok(Staging::S3 {
                endpoint: need("STAGING_S3_ENDPOINT")?,
                bucket: need("STAGING_S3_BUCKET")?,
                region: s.optional("STAGING_S3_REGION"),
                access_key: s.optional("STAGING_S3_ACCESS_KEY").unwrap_or_default(),
                secret_key: Secret(s.optional("STAGING_S3_SECRET_KEY").unwrap_or_default()),
            })
        }
        _ => Err(bad("STAGING", &v, "nats or s3")),
    }
}

impl Config {
    pub fn from_sources(s: &Sources) -> Result<Config, ConfigError> {
        let level = s.get("LOG_LEVEL");
        let log_level = match level.trim().to_ascii_uppercase().as_str() {
            "DEBUG" => tracing::Level::DEBUG,
            "INFO" => tracing::Level::INFO,
            "WARN" | "WARNING" => tracing::Level::WARN,
            "ERROR" => tracing::Level::ERROR,
            _ => return Err(bad("LOG_LEVEL", &level, "DEBUG, INFO, WARN or ERROR")),
        };
        let format = s.get("LOG_FORMAT");
        let log_format = match format.trim().to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return Err(bad("LOG_FORMAT", &format, "text or json")),
        };
        let bind = s.get("BIND_HOST");
        let bind_host: IpAddr = bind
            .trim()
            .parse()
            .map_err(|_| bad("BIND_HOST", &bind, "an IP address, e.g. 0.0.0.0 or 127.0.0.1"))?;
        // 0 asks the system for a free port (the log says which): for tests.
        let port: u16 = number(s, "HTTPD_PORT", "a port number from 1 to 65535 (0: any free port)")?;
        let count: usize =
            number(s, "VIDEO_WORKER_COUNT", "0 (usable cores + 1) or a number of workers up to 256")?;
        if count > 256 {
            return Err(bad("VIDEO_WORKER_COUNT", &count.to_string(), "0 (usable cores + 1) or up to 256"));
        }
        let secret_key = s.optional("VIDEO_WORKER_SECRET_KEY");
        if let Some(k) = &secret_key
            && crate::seal::Key::from_secret(k).is_err()
        {
            return Err(bad("VIDEO_WORKER_SECRET_KEY", k, "32 characters (exactly 32 bytes: ASCII)"));
        }
        let data_dir = PathBuf::from(s.get("DATA_DIR"));
        let local_storage_dir =
            s.optional("LOCAL_STORAGE_DIR").map(PathBuf::from).unwrap_or_else(|| data_dir.join("replays"));
        let quality = s.get("VIDEO_QUALITY");
        let quality = Quality::parse(&quality).map_err(|why| bad("VIDEO_QUALITY", &quality, &why))?;
        let level = EncodeSettings::default().with_quality(quality);
        let encode = EncodeSettings {
            ffmpeg: PathBuf::from(s.get("FFMPEG_PATH")),
            crf: match s.optional("VIDEO_CRF") {
                Some(_) => number(s, "VIDEO_CRF", "a number from 0 to 51")?,
                None => level.crf,
            },
            preset: s.optional("VIDEO_PRESET").map_or(level.preset, |p| p.trim().to_string()),
            fps: number(s, "VIDEO_FPS", "a number from 1 to 120")?,
            max_size: match s.optional("VIDEO_MAX_SIZE") {
                Some(v) => Some(parse_size(&v).map_err(|why| bad("VIDEO_MAX_SIZE", &v, &why))?),
                None => None,
            },
            stall_timeout: Some(std::time::Duration::from_secs(positive(s, "FFMPEG_STALL_SECONDS")?)),
            ..EncodeSettings::default()
        };
        encode.validate().map_err(|why| ConfigError(format!("encoder settings (VIDEO_*): {why}")))?;
        let upload = s.get("MAX_UPLOAD_SIZE");
        let max_upload_bytes = parse_bytes(&upload)
            .filter(|&b| b > 0)
            .ok_or_else(|| bad("MAX_UPLOAD_SIZE", &upload, "a size such as 20G, 512M or 1048576"))?;
        let recording = s.get("MAX_RECORDING_BYTES");
        let max_recording_bytes = parse_bytes(&recording)
            .filter(|&b| b > 0)
            .ok_or_else(|| bad("MAX_RECORDING_BYTES", &recording, "a size such as 16G, 512M or 1048576"))?;
        let api_token = s.optional("VIDEO_WORKER_API_TOKEN");
        let core_host = s.optional("CORE_HOST");
        let thumbnails = thumbnails(s, core_host.is_some())?;
        // The service listens on BIND_HOST whatever the token: health, /metrics
        // and the gateways (which authenticate through core) answer everyone;
        // without a token the standalone API answers loopback callers only
        // (http::auth), which is what keeps recordings from the network.
        Ok(Config {
            name: s.optional("NAME").unwrap_or_else(hostname),
            core_host,
            bootstrap_token: s.optional("BOOTSTRAP_TOKEN").map(Secret),
            bind_host,
            port,
            log_level,
            log_format,
            workers: if count == 0 { usable_cpus() + 1 } else { count },
            secret_key: secret_key.map(Secret),
            clean_period_days: number(s, "VIDEO_WORKER_CLEAN_PERIOD", "a number of days (0 or more)")?,
            terminal_font: match s.optional("TERMINAL_FONT") {
                Some(f) if !crate::terminal::font::FontSpec::parse(&f).path.is_file() => {
                    return Err(bad(
                        "TERMINAL_FONT",
                        &f,
                        "a font file (TTF, OTF or TTC, PATH or PATH#FACE) that exists",
                    ));
                }
                other => other,
            },
            keystrokes: {
                let v = s.get("KEYSTROKE_TRACK");
                crate::keys::KeyTrack::parse(&v)
                    .ok_or_else(|| bad("KEYSTROKE_TRACK", &v, "off, sidecar or embed"))?
            },
            thumbnails,
            clean_schedule: s.get("VIDEO_WORKER_CLEAN_SCHEDULE").trim().to_string(),
            api_token: api_token.map(Secret),
            allowed_hosts: allowed_hosts(s)?,
            ignore_verify_certs: boolean(s, "IGNORE_VERIFY_CERTS")?,
            data_dir,
            local_storage_dir,
            inbox_dir: s.optional("INBOX_DIR").map(PathBuf::from),
            inbox_poll_seconds: number(s, "INBOX_POLL_SECONDS", "a number of seconds (1 or more)").and_then(
                |v: u64| if v == 0 { Err(bad("INBOX_POLL_SECONDS", "0", "1 or more")) } else { Ok(v) },
            )?,
            post_processing_scripts: s
                .get("POST_PROCESSING_SCRIPTS")
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect(),
            post_processing_timeout: number(s, "POST_PROCESSING_TIMEOUT", "a number of seconds")?,
            encode,
            max_upload_bytes,
            max_recording_bytes,
            shutdown_grace_seconds: number(s, "SHUTDOWN_GRACE_SECONDS", "a number of seconds")?,
            retry_max_delay_seconds: number(s, "RETRY_MAX_DELAY_SECONDS", "a number of seconds (1 or more)")
                .and_then(|v: u64| {
                    if v == 0 { Err(bad("RETRY_MAX_DELAY_SECONDS", "0", "1 or more")) } else { Ok(v) }
                })?,
            incomplete_task_timeout: std::time::Duration::from_secs(
                number(s, "INCOMPLETE_TASK_TIMEOUT", "a number of seconds (1 or more)").and_then(
                    |v: u64| {
                        if v == 0 { Err(bad("INCOMPLETE_TASK_TIMEOUT", "0", "1 or more")) } else { Ok(v) }
                    },
                )?,
            ),
            max_parts_per_task: positive(s, "MAX_PARTS_PER_TASK")? as usize,
            max_concurrent_uploads: positive(s, "MAX_CONCURRENT_UPLOADS")? as usize,
            max_pending_tasks: positive(s, "MAX_PENDING_TASKS")?,
            role: role(s)?,
            cluster: cluster(s)?,
        })
        .and_then(Config::roles_need_a_cluster)
    }

    fn roles_need_a_cluster(self) -> Result<Config, ConfigError> {
        if self.role != Role::All && self.cluster.is_none() {
            return Err(ConfigError(format!(
                "VIDEO_WORKER_ROLE={} needs the cluster queue: set NATS_URL (a single node is role all)",
                self.role.as_str()
            )));
        }
        Ok(self)
    }

    pub fn tasks_dir(&self) -> PathBuf {
        self.data_dir.join("tasks")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_sources(&Sources::from_pairs(pairs))
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = config(&[("VIDEO_WORKER_API_TOKEN", "t")]).unwrap();
        assert_eq!(c.port, 9000);
        assert_eq!(c.bind_host.to_string(), "0.0.0.0");
        assert_eq!(c.workers, usable_cpus() + 1);
        assert_eq!(c.clean_period_days, 7);
        assert_eq!(c.local_storage_dir, PathBuf::from("data/replays"));
        assert_eq!(c.encode.crf, 23);
        assert_eq!(c.max_upload_bytes, 20 << 30);
        assert_eq!(c.max_recording_bytes, crate::guac::limits::DEFAULT_MAX_BYTES);
    }

    #[test]
    fn keystrokes_are_off_and_thumbnails_follow_the_mode() {
        let c = config(&[]).unwrap();
        assert_eq!(c.keystrokes, crate::keys::KeyTrack::Off);
        assert_eq!(c.thumbnails.map(|t| t.interval_ms), Some(10_000));
        let c = config(&[("CORE_HOST", "http://core:8080"), ("BOOTSTRAP_TOKEN", "b")]).unwrap();
        assert_eq!(c.thumbnails, None, "core would not know the files");
        let c =
            config(&[("CORE_HOST", "http://core:8080"), ("THUMBNAILS", "on"), ("KEYSTROKE_TRACK", "Embed")])
                .unwrap();
        assert!(c.thumbnails.is_some());
        assert_eq!(c.keystrokes, crate::keys::KeyTrack::Embed);
        assert!(config(&[("KEYSTROKE_TRACK", "yes")]).is_err());
        assert!(config(&[("THUMBNAILS", "maybe")]).is_err());
        assert!(config(&[("THUMBNAIL_INTERVAL_SECONDS", "0")]).is_err());
    }

    #[test]
    fn without_a_token_the_service_still_listens_on_bind_host() {
        // A container publishes 0.0.0.0:9000: narrowing to loopback would
        // leave the port dead while the in-container health check passes.
        let c = config(&[]).unwrap();
        assert!(c.api_token.is_none());
        assert_eq!(c.bind_host.to_string(), "0.0.0.0");
        let c = config(&[("BIND_HOST", "127.0.0.1")]).unwrap();
        assert_eq!(c.bind_host.to_string(), "127.0.0.1");
    }

    #[test]
    fn allowed_hosts_are_plain_names() {
        assert!(config(&[]).unwrap().allowed_hosts.is_empty());
        let c = config(&[("ALLOWED_HOSTS", " Worker.Internal, worker.internal:9000 ,")]).unwrap();
        assert_eq!(c.allowed_hosts, ["worker.internal", "worker.internal:9000"]);
        let e = config(&[("ALLOWED_HOSTS", "http://worker/")]).unwrap_err().to_string();
        assert!(e.contains("ALLOWED_HOSTS") && e.contains("host names"), "{e}");
    }

    #[test]
    fn wrong_values_name_the_key_and_what_is_allowed() {
        let e = config(&[("HTTPD_PORT", "http")]).unwrap_err().to_string();
        assert!(e.contains("HTTPD_PORT") && e.contains("\"http\"") && e.contains("1 to 65535"), "{e}");
        let e = config(&[("LOG_LEVEL", "LOUD")]).unwrap_err().to_string();
        assert!(e.contains("DEBUG, INFO, WARN or ERROR"), "{e}");
        let e = config(&[("VIDEO_PRESET", "warp")]).unwrap_err().to_string();
        assert!(e.contains("veryfast"), "{e}");
        let e = config(&[("VIDEO_QUALITY", "best")]).unwrap_err().to_string();
        assert!(e.contains("VIDEO_QUALITY") && e.contains("low, normal, high"), "{e}");
    }

    #[test]
    fn the_quality_sets_crf_and_preset_unless_they_are_given() {
        let c = config(&[]).unwrap();
        assert_eq!((c.encode.crf, c.encode.preset.as_str()), (23, "veryfast"));
        let c = config(&[("VIDEO_QUALITY", "high")]).unwrap();
        assert_eq!((c.encode.crf, c.encode.preset.as_str()), Quality::High.crf_preset());
        let c = config(&[("VIDEO_QUALITY", "low"), ("VIDEO_CRF", "30")]).unwrap();
        assert_eq!((c.encode.crf, c.encode.preset.as_str()), (30, Quality::Low.crf_preset().1));
    }

    #[test]
    fn secrets_are_never_echoed() {
        let e = config(&[("VIDEO_WORKER_SECRET_KEY", "too-short-secret")]).unwrap_err().to_string();
        assert!(e.contains("VIDEO_WORKER_SECRET_KEY") && e.contains("32 characters"), "{e}");
        assert!(!e.contains("too-short-secret"), "{e}");
        let s = Sources::from_pairs(&[("VIDEO_WORKER_API_TOKEN", "hunter2")]);
        let shown = s.describe();
        assert!(shown.iter().all(|(_, v, _)| !v.contains("hunter2")));
    }

    #[test]
    fn roles_and_the_cluster_queue_are_checked() {
        let c = config(&[]).unwrap();
        assert_eq!((c.role, c.cluster.is_none()), (Role::All, true), "one node on SQLite by default");
        let e = config(&[("VIDEO_WORKER_ROLE", "transcoder")]).unwrap_err().to_string();
        assert!(e.contains("VIDEO_WORKER_ROLE=transcoder") && e.contains("NATS_URL"), "{e}");
        let e = config(&[("VIDEO_WORKER_ROLE", "boss")]).unwrap_err().to_string();
        assert!(e.contains("all, receiver or transcoder"), "{e}");
        let c = config(&[("NATS_URL", "nats://a:4222, nats://b:4222"), ("VIDEO_WORKER_ROLE", "receiver")])
            .unwrap();
        let cluster = c.cluster.unwrap();
        assert_eq!(cluster.urls, ["nats://a:4222", "nats://b:4222"]);
        assert_eq!((cluster.replicas, cluster.staging), (1, Staging::Nats));
        let e = config(&[("NATS_URL", "nats://a"), ("NATS_REPLICAS", "2")]).unwrap_err().to_string();
        assert!(e.contains("1, 3 or 5"), "{e}");
        let e = config(&[("NATS_URL", "nats://a"), ("STAGING", "s3")]).unwrap_err().to_string();
        assert!(e.contains("STAGING_S3_ENDPOINT"), "{e}");
        let e = config(&[("NATS_URL", "nats://a"), ("NATS_USER", "u"), ("NATS_PASSWORD", "pw-secret")])
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string());
        assert!(!e.contains("pw-secret"), "{e}");
    }

    #[test]
    fn a_configuration_printed_whole_shows_no_secret() {
        let c = config(&[
            ("VIDEO_WORKER_API_TOKEN", "api-token-value"),
            ("BOOTSTRAP_TOKEN", "bootstrap-value"),
            ("VIDEO_WORKER_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
            ("NATS_URL", "nats://a:4222"),
            ("NATS_USER", "u"),
            ("NATS_PASSWORD", "nats-password-value"),
            ("NATS_TOKEN", "nats-token-value"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        for secret in [
            "api-token-value",
            "bootstrap-value",
            "0123456789abcdef",
            "nats-password-value",
            "nats-token-value",
        ] {
            assert!(!shown.contains(secret), "{secret} printed");
        }
    }

    #[test]
    fn byte_sizes_parse() {
        assert_eq!(parse_bytes("20G"), Some(20 << 30));
        assert_eq!(parse_bytes("512m"), Some(512 << 20));
        assert_eq!(parse_bytes("1000"), Some(1000));
        assert_eq!(parse_bytes("lots"), None);
    }
}
