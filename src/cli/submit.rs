//! `video-worker submit FILE`: uploads a recording to a running service and
//! follows its task to the end. With `VIDEO_WORKER_SECRET_KEY` configured
//! (environment or `--config`), the recording is sealed before it leaves
//! this machine, and the service keeps it sealed (docs/security.md).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::Value;
use video_worker::config::Sources;
use video_worker::seal::{Key, SealWriter};

use super::progress::ProgressReporter;

#[derive(Args)]
pub struct SubmitArgs {
    /// The recording (raw or gzip).
    file: PathBuf,
    /// The service's base URL.
    #[arg(long, env = "VIDEO_WORKER_SERVER", default_value = "http://127.0.0.1:9000")]
    server: String,
    /// The service's VIDEO_WORKER_API_TOKEN (default: from the configuration).
    #[arg(long)]
    token: Option<String>,
    /// The session id the MP4 is stored under.
    #[arg(long)]
    session_id: Option<String>,
    /// The env file with VIDEO_WORKER_SECRET_KEY / VIDEO_WORKER_API_TOKEN
    /// (default: config.txt in the working directory, if present).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Return once the recording is accepted, without following the task.
    #[arg(long)]
    no_wait: bool,
}

pub fn run(args: SubmitArgs) -> anyhow::Result<()> {
    super::check_inputs(std::slice::from_ref(&args.file))?;
    if let Some(sid) = &args.session_id
        && !video_worker::ids::is_safe_id(sid)
    {
        bail!("--session-id must be 1-128 characters of letters, digits, '-', '_' or '.'");
    }
    let sources = Sources::load(args.config.as_deref())?;
    let key = match sources.optional("VIDEO_WORKER_SECRET_KEY") {
        Some(secret) => {
            Some(Key::from_secret(&secret).map_err(|e| anyhow::anyhow!("VIDEO_WORKER_SECRET_KEY: {e}"))?)
        }
        None => None,
    };
    let token = args.token.clone().or_else(|| sources.optional("VIDEO_WORKER_API_TOKEN"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(submit(&args, key.as_ref(), token.as_deref()))
}

async fn submit(args: &SubmitArgs, key: Option<&Key>, token: Option<&str>) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().build()?;
    let sealed = key.map(|k| seal_copy(&args.file, k)).transpose()?;
    let body_path = sealed.as_ref().map_or(args.file.as_path(), |s| s.0.as_path());
    let task = upload(&client, args, token, body_path, sealed.is_some()).await;
    drop(sealed);
    let task = task?;
    let id = task["id"].as_str().context("the service answered without a task id")?.to_string();
    eprintln!("accepted as task {id}{}", if key.is_some() { " (sealed)" } else { "" });
    println!("{id}");
    if args.no_wait {
        return Ok(());
    }
    follow(&client, &args.server, token, &id).await
}

/// A sealed temporary copy, removed when dropped.
struct Sealed(PathBuf);

impl Drop for Sealed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn seal_copy(file: &Path, key: &Key) -> anyhow::Result<Sealed> {
    let path = std::env::temp_dir().join(format!("video-worker-submit-{}.sealed", std::process::id()));
    let sealed = Sealed(path);
    let mut out = SealWriter::new(std::io::BufWriter::new(std::fs::File::create(&sealed.0)?), key)?;
    std::io::copy(&mut std::fs::File::open(file)?, &mut out)?;
    out.finish()?;
    Ok(sealed)
}

async fn upload(
    client: &reqwest::Client,
    args: &SubmitArgs,
    token: Option<&str>,
    body: &Path,
    sealed: bool,
) -> anyhow::Result<Value> {
    let size = std::fs::metadata(body)?.len();
    let stream = tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::open(body).await?, 1 << 20);
    let content_type =
        if sealed { "application/vnd.video-worker.sealed" } else { "application/octet-stream" };
    let mut url = format!("{}/api/v1/recordings", args.server.trim_end_matches('/'));
    if let Some(sid) = &args.session_id {
        // Session ids are plain identifiers (the service refuses others).
        url.push_str(&format!("?session_id={sid}"));
    }
    let mut request = client
        .post(url)
        .header("Content-Type", content_type)
        .header("Content-Length", size)
        .body(reqwest::Body::wrap_stream(stream));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.with_context(|| format!("cannot reach {}", args.server))?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("the service refused the upload ({status}): {}", answer["message"].as_str().unwrap_or(""));
    }
    Ok(answer)
}

/// Polls the task until it is done or failed, with a progress bar.
async fn follow(client: &reqwest::Client, server: &str, token: Option<&str>, id: &str) -> anyhow::Result<()> {
    let url = format!("{}/api/v1/tasks/{id}", server.trim_end_matches('/'));
    let mut progress = ProgressReporter::new();
    loop {
        let mut request = client.get(&url);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let task: Value = request.send().await?.json().await?;
        progress.update((task["progress"].as_f64().unwrap_or(0.0) * 1000.0) as i64, 1000);
        match task["state"].as_str() {
            Some("done") => {
                progress.finish();
                for o in task["outputs"].as_array().into_iter().flatten() {
                    eprintln!("stored {} ({} bytes)", o["key"].as_str().unwrap_or(""), o["size"]);
                }
                return Ok(());
            }
            Some("failed") => {
                progress.finish();
                bail!("task {id} failed: {}", task["last_error"].as_str().unwrap_or("unknown"));
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}
