//! Running one task: convert its parts to an MP4, store it, confirm, then
//! delete the received recording and run the post-processing scripts.
//!
//! Each step is recorded in the store before the next begins, and the MP4
//! appears under its final name only when complete, so a task interrupted
//! anywhere resumes without redoing finished work: a task whose MP4 is
//! already there goes straight to the upload.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::convert::{Summary, convert};
use crate::service::app::App;
use crate::tasks::inbox;
use crate::tasks::model::{Output, Task};
use crate::tasks::postprocess;
use crate::tasks::retry::{self, Kind};
use crate::tasks::tasklog::TaskLog;

/// Why an attempt ended early.
struct Failure {
    kind: Kind,
    message: String,
}

impl Failure {
    fn transient(message: impl Into<String>) -> Failure {
        Failure { kind: Kind::Transient, message: message.into() }
    }
}

/// Runs one claimed task to its next resting state (done, failed, or queued
/// for a retry).
pub async fn run(app: Arc<App>, task: Task) {
    let dir = app.task_dir(&task.id);
    let log = TaskLog::new(&dir);
    log.line(format!("attempt {} started on worker {}", task.attempts, app.config.name));
    tracing::info!(task = %task.id, session = %task.session_id, attempt = task.attempts, "task started");
    let started = Instant::now();
    match attempt(&app, &task, &dir, &log).await {
        Ok(outputs) => finish(&app, &task, &dir, &log, outputs, started).await,
        Err(f) => fail(&app, &task, &log, f),
    }
}

async fn attempt(app: &Arc<App>, task: &Task, dir: &Path, log: &TaskLog) -> Result<Vec<Output>, Failure> {
    let output = match read_output(dir) {
        Some(done) => {
            log.line("the MP4 of an earlier attempt is complete; storing it");
            done
        }
        None => convert_inputs(app, task, dir, log).await?,
    };
    let outputs = vec![output];
    app.store.mark_uploading(&task.id, &outputs).map_err(|e| Failure::transient(e.to_string()))?;
    let file = dir.join("output").join(&outputs[0].name);
    log.line(format!("storing {} as {} in {}", file.display(), outputs[0].key, app.storage.describe()));
    let t = Instant::now();
    let stored =
        app.storage.put_file(&outputs[0].key, &file).await.map_err(|e| Failure::transient(e.to_string()))?;
    log.line(format!("stored {} bytes in {:.2} s", stored.size, t.elapsed().as_secs_f64()));
    metrics::counter!("video_worker_bytes_out_total").increment(stored.size);
    Ok(outputs)
}

/// The MP4 and its description, when a previous attempt finished converting.
fn read_output(dir: &Path) -> Option<Output> {
    let text = std::fs::read_to_string(dir.join("output/output.json")).ok()?;
    let output: Output = serde_json::from_str(&text).ok()?;
    dir.join("output").join(&output.name).is_file().then_some(output)
}

fn input_parts(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir.join("input"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "guac"))
        .collect();
    parts.sort();
    Ok(parts)
}

async fn convert_inputs(app: &Arc<App>, task: &Task, dir: &Path, log: &TaskLog) -> Result<Output, Failure> {
    let parts = input_parts(dir).map_err(|e| Failure::transient(format!("cannot list the inputs: {e}")))?;
    if parts.is_empty() {
        return Err(Failure { kind: Kind::Permanent, message: "the task has no input".into() });
    }
    let out_dir = dir.join("output");
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| Failure::transient(format!("{}: {e}", out_dir.display())))?;
    let name = format!("{}.mp4", task.session_id);
    let out = out_dir.join(&name);
    log.line(format!("converting {} part(s), {} bytes", parts.len(), task.input_bytes));
    let summary = run_convert(app, &task.id, parts, out.clone()).await;
    let summary = match summary {
        Ok(s) => s,
        Err((kind, message, ffmpeg_log)) => {
            if !ffmpeg_log.is_empty() {
                log.line(format!("ffmpeg said:\n{ffmpeg_log}"));
            }
            return Err(Failure { kind, message });
        }
    };
    log_summary(log, &summary);
    let output = Output {
        key: format!("{}/{}/{}", task.session_date, task.session_id, name),
        name,
        size: summary.output_bytes,
        duration_ms: summary.span_ms,
        width: summary.width,
        height: summary.height,
    };
    let json = serde_json::to_vec_pretty(&output).unwrap_or_default();
    std::fs::write(out_dir.join("output.json"), json).map_err(|e| Failure::transient(e.to_string()))?;
    metrics::histogram!("video_worker_conversion_seconds").record(summary.wall.as_secs_f64());
    metrics::counter!("video_worker_conversions_total").increment(1);
    Ok(output)
}

type ConvertOutcome = Result<Summary, (Kind, String, String)>;

/// Converts on a blocking thread (the work is CPU-bound and threaded), with
/// progress saved to the store at most once a second.
async fn run_convert(app: &Arc<App>, id: &str, parts: Vec<PathBuf>, out: PathBuf) -> ConvertOutcome {
    let app = app.clone();
    let id = id.to_string();
    let settings = app.config.encode.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let mut last = Instant::now();
        let mut progress = |p: crate::convert::Progress| {
            if last.elapsed() >= Duration::from_secs(1) && p.span_ms > 0 {
                last = Instant::now();
                let _ = app.store.set_progress(&id, p.at_ms as f64 / p.span_ms as f64);
            }
        };
        convert(&parts, &out, &settings, &mut progress)
    })
    .await;
    match joined {
        Ok(Ok(summary)) => Ok(summary),
        Ok(Err(e)) => {
            let ffmpeg_log = match &e {
                crate::convert::ConvertError::Encode(crate::encode::EncodeError::Failed { tail, .. }) => {
                    tail.clone()
                }
                _ => String::new(),
            };
            Err((retry::classify(&e), e.to_string(), ffmpeg_log))
        }
        Err(e) => Err((Kind::Transient, format!("the conversion thread failed: {e}"), String::new())),
    }
}

fn log_summary(log: &TaskLog, s: &Summary) {
    log.line(format!(
        "converted: {} frames, {}x{}, session {:.1} s, {:.2} s wall, {} bytes in, {} bytes out, peak RSS {} MB (ffmpeg {} MB)",
        s.frames,
        s.width,
        s.height,
        s.span_ms as f64 / 1000.0,
        s.wall.as_secs_f64(),
        s.input_bytes,
        s.output_bytes,
        s.peak_rss / 1_000_000,
        s.encoder_peak_rss / 1_000_000
    ));
    for w in &s.report.warnings {
        log.line(format!("warning: {w}"));
    }
    if s.report.dropped_warnings > 0 {
        log.line(format!("warning: ... and {} more", s.report.dropped_warnings));
    }
    if !s.report.unknown_opcodes.is_empty() {
        log.line(format!("skipped unsupported instructions: {:?}", s.report.unknown_opcodes));
    }
    if !s.ffmpeg_log.trim().is_empty() {
        log.line(format!("ffmpeg said:\n{}", s.ffmpeg_log.trim()));
    }
}

async fn finish(
    app: &Arc<App>,
    task: &Task,
    dir: &Path,
    log: &TaskLog,
    outputs: Vec<Output>,
    started: Instant,
) {
    if let Err(e) = app.store.mark_done(&task.id, &outputs) {
        // Stored but not recorded: the next attempt stores the same key again.
        fail(app, task, log, Failure::transient(e.to_string()));
        return;
    }
    // Only now, with the MP4 confirmed stored, does the recording go.
    match std::fs::remove_dir_all(dir.join("input")) {
        Ok(()) => log.line("the received recording was deleted"),
        Err(e) => log.line(format!("could not delete the received recording: {e}")),
    }
    log.line(format!("done in {:.2} s", started.elapsed().as_secs_f64()));
    tracing::info!(task = %task.id, session = %task.session_id, key = %outputs[0].key, "task done");
    inbox::settle(app, task, true, log);
    postprocess::run_all(app, task, &outputs, log).await;
}

fn fail(app: &Arc<App>, task: &Task, log: &TaskLog, f: Failure) {
    match f.kind {
        Kind::Transient => {
            let delay = retry::backoff_ms(task.attempts, app.config.retry_max_delay_seconds as i64 * 1000);
            log.line(format!(
                "attempt {} failed, retrying in {:.0} s: {}",
                task.attempts,
                delay as f64 / 1000.0,
                f.message
            ));
            tracing::warn!(task = %task.id, attempt = task.attempts, delay_ms = delay, error = %f.message, "task will retry");
            metrics::counter!("video_worker_retries_total").increment(1);
            if let Err(e) = app.store.schedule_retry(&task.id, &f.message, delay) {
                tracing::error!(task = %task.id, error = %e, "cannot record the retry");
            }
        }
        Kind::Permanent => {
            log.line(format!("failed: {}", f.message));
            tracing::error!(task = %task.id, error = %f.message, "task failed");
            metrics::counter!("video_worker_failures_total").increment(1);
            if let Err(e) = app.store.mark_failed(&task.id, &f.message) {
                tracing::error!(task = %task.id, error = %e, "cannot record the failure");
            }
            inbox::settle(app, task, false, log);
        }
    }
}
