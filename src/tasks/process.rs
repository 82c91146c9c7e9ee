//! Running one task: make its files (see `plan`), store them, tell core
//! (gateway tasks), then delete the received recording and run the
//! post-processing scripts.
//!
//! Each step leaves a durable trace before the next begins, so a task
//! interrupted anywhere resumes without redoing finished work: a video whose
//! description (`output/<name>.json`) exists is not converted again, a task
//! whose files are all made (`output/produced.json`) goes straight to
//! storing, and one whose files are all stored (`output/stored`) only
//! reports to core.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::convert::{Summary, convert};
use crate::jumpserver::replay_meta::{PartVideo, rewrite};
use crate::jumpserver::session_report::SessionReport;
use crate::service::app::App;
use crate::storage::select;
use crate::tasks::inbox;
use crate::tasks::model::{Output, Task};
use crate::tasks::plan::{self, Index, Original, Plan, Video};
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

    fn permanent(message: impl Into<String>) -> Failure {
        Failure { kind: Kind::Permanent, message: message.into() }
    }
}

/// The files a task made, ready to store.
#[derive(Serialize, Deserialize)]
struct Produced {
    outputs: Vec<Output>,
    /// Set when the recording could not be converted and its originals are
    /// stored instead: why.
    fallback: Option<String>,
}

impl Produced {
    fn path(dir: &Path) -> PathBuf {
        dir.join("output/produced.json")
    }

    fn load(dir: &Path) -> Option<Produced> {
        let p: Produced = serde_json::from_slice(&std::fs::read(Produced::path(dir)).ok()?).ok()?;
        p.outputs.iter().all(|o| dir.join("output").join(&o.name).is_file()).then_some(p)
    }

    fn save(&self, dir: &Path) -> Result<(), Failure> {
        write_durably(&Produced::path(dir), &serde_json::to_vec_pretty(self).unwrap_or_default())
    }
}

fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let tmp = path.with_extension("tmp");
    let io = |e: std::io::Error| Failure::transient(format!("{}: {e}", path.display()));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
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
        Ok(produced) => finish(&app, &task, &dir, &log, produced, started).await,
        Err(f) => fail(&app, &task, &log, f),
    }
}

async fn attempt(app: &Arc<App>, task: &Task, dir: &Path, log: &TaskLog) -> Result<Produced, Failure> {
    let report = SessionReport::of(app, task).map_err(Failure::transient)?;
    let produced = match Produced::load(dir) {
        Some(p) => {
            log.line("the files of an earlier attempt are complete; storing them");
            p
        }
        None => produce(app, task, dir, log, report.as_ref()).await?,
    };
    if !dir.join("output/stored").exists() {
        store_all(app, task, dir, log, &produced, report.as_ref()).await?;
    }
    if let Some(r) = &report {
        tell_core(r, &produced, log).await?;
    }
    Ok(produced)
}

/// Makes the task's files: its videos, or, when a gateway's recording
/// cannot be converted at all, the originals the gateway would have stored.
async fn produce(
    app: &Arc<App>,
    task: &Task,
    dir: &Path,
    log: &TaskLog,
    report: Option<&SessionReport>,
) -> Result<Produced, Failure> {
    let out_dir = dir.join("output");
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| Failure::transient(format!("{}: {e}", out_dir.display())))?;
    let plan = plan::plan(task, &dir.join("input"))
        .map_err(|e| Failure::transient(format!("cannot list the inputs: {e}")))?;
    if let Some(r) = report {
        r.event("replay_convert_start", "").await;
    }
    let produced = match make_videos(app, task, &plan, &out_dir, log).await {
        Ok(outputs) => {
            if let Some(r) = report {
                r.event("replay_convert_success", "").await;
            }
            Produced { outputs, fallback: None }
        }
        Err(f) if f.kind == Kind::Permanent => keep_originals(task, dir, log, report, f).await?,
        Err(f) => return Err(f),
    };
    produced.save(dir)?;
    Ok(produced)
}

/// Converts every planned video (skipping those an earlier attempt made),
/// then writes the index that names them.
async fn make_videos(
    app: &Arc<App>,
    task: &Task,
    plan: &Plan,
    out_dir: &Path,
    log: &TaskLog,
) -> Result<Vec<Output>, Failure> {
    let mut outputs = Vec::new();
    for (i, video) in plan.videos.iter().enumerate() {
        let output = match read_output(out_dir, &video.name) {
            Some(done) => done,
            None => make_video(app, task, video, (i, plan.videos.len()), out_dir, log).await?,
        };
        outputs.push(output);
    }
    if let Some(index) = &plan.index {
        outputs.push(write_index(index, &outputs, out_dir)?);
    }
    Ok(outputs)
}

/// A video an earlier attempt finished.
fn read_output(out_dir: &Path, name: &str) -> Option<Output> {
    let text = std::fs::read_to_string(out_dir.join(format!("{name}.json"))).ok()?;
    let output: Output = serde_json::from_str(&text).ok()?;
    out_dir.join(&output.name).is_file().then_some(output)
}

async fn make_video(
    app: &Arc<App>,
    task: &Task,
    video: &Video,
    nth: (usize, usize),
    out_dir: &Path,
    log: &TaskLog,
) -> Result<Output, Failure> {
    if video.inputs.is_empty() {
        return Err(Failure::permanent("the task has no input"));
    }
    check_seals(&video.inputs).await?;
    let bytes: u64 = video.inputs.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    log.line(format!("converting {} part(s), {bytes} bytes, into {}", video.inputs.len(), video.name));
    let out = out_dir.join(&video.name);
    let summary = match run_convert(app, &task.id, video.inputs.clone(), out.clone(), nth).await {
        Ok(s) => s,
        Err((kind, message, ffmpeg_log)) => {
            if !ffmpeg_log.is_empty() {
                log.line(format!("ffmpeg said:\n{ffmpeg_log}"));
            }
            return Err(Failure { kind, message: format!("{}: {message}", video.name) });
        }
    };
    log_summary(log, &summary);
    let output = Output {
        name: video.name.clone(),
        key: video.key.clone(),
        size: summary.output_bytes,
        duration_ms: summary.span_ms,
        width: summary.width,
        height: summary.height,
        sha256: Some(sha256_file(&out).map_err(|e| Failure::transient(format!("{}: {e}", out.display())))?),
    };
    write_durably(
        &out_dir.join(format!("{}.json", video.name)),
        &serde_json::to_vec_pretty(&output).unwrap_or_default(),
    )?;
    metrics::histogram!("video_worker_conversion_seconds").record(summary.wall.as_secs_f64());
    metrics::counter!("video_worker_conversions_total").increment(1);
    Ok(output)
}

/// Sealed inputs must open, every chunk, before anything is made of them:
/// a wrong key or an altered file is the task's clear failure, never a
/// video of garbage.
async fn check_seals(inputs: &[PathBuf]) -> Result<(), Failure> {
    let inputs = inputs.to_vec();
    let checked = tokio::task::spawn_blocking(move || {
        for p in &inputs {
            crate::seal::verify_if_sealed(p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        Ok::<(), String>(())
    })
    .await;
    match checked {
        Ok(Ok(())) => Ok(()),
        Ok(Err(why)) => Err(Failure::permanent(why)),
        Err(e) => Err(Failure::transient(format!("the seal check failed: {e}"))),
    }
}

/// `<sid>.replay.json` naming the videos (everything but the index itself).
fn write_index(index: &Index, videos: &[Output], out_dir: &Path) -> Result<Output, Failure> {
    let parts: Vec<PartVideo<'_>> = videos
        .iter()
        .map(|o| PartVideo {
            name: &o.name,
            size: o.size,
            duration_ms: o.duration_ms,
            checksum: o.sha256.as_deref().unwrap_or(""),
        })
        .collect();
    write_json_output(index, &rewrite(&index.meta, &parts), out_dir)
}

fn write_json_output(index: &Index, value: &serde_json::Value, out_dir: &Path) -> Result<Output, Failure> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    write_durably(&out_dir.join(&index.name), &bytes)?;
    Ok(Output {
        name: index.name.clone(),
        key: index.key.clone(),
        size: bytes.len() as u64,
        duration_ms: 0,
        width: 0,
        height: 0,
        sha256: None,
    })
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf)? {
            0 => break,
            n => hasher.update(&buf[..n]),
        }
    }
    Ok(crate::tasks::spool::hex(&hasher.finalize()))
}

/// The recording cannot become a video: store what the gateway would have
/// stored, so the session stays replayable. Standalone tasks just fail.
async fn keep_originals(
    task: &Task,
    dir: &Path,
    log: &TaskLog,
    report: Option<&SessionReport>,
    why: Failure,
) -> Result<Produced, Failure> {
    let Ok(Some((originals, index))) = plan::originals(task, &dir.join("input")) else {
        return Err(why);
    };
    log.line(format!("conversion failed for good ({}); storing the original recording instead", why.message));
    if let Some(r) = report {
        r.event("replay_convert_failure", &why.message).await;
    }
    let out_dir = dir.join("output");
    let mut outputs = Vec::new();
    for o in &originals {
        outputs
            .push(place_original(o, &out_dir).map_err(|e| Failure::permanent(format!("{}: {e}", o.name)))?);
    }
    if let Some(index) = &index {
        outputs.push(write_json_output(index, &index.meta, &out_dir)?);
    }
    Ok(Produced { outputs, fallback: Some(why.message) })
}

/// Puts an original file in the output directory under its stored name, as
/// the gateway had it: unsealed, gzipped when a legacy recording came raw,
/// else a hard link (no copy).
fn place_original(o: &Original, out_dir: &Path) -> std::io::Result<Output> {
    let dest = out_dir.join(&o.name);
    let _ = std::fs::remove_file(&dest);
    let sealed = crate::seal::installed().is_some();
    if o.gzip || sealed {
        let mut input = crate::guac::input::open_plain(&o.source)?;
        let out = std::fs::File::create(&dest)?;
        let out = if o.gzip {
            let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            std::io::copy(&mut input, &mut gz)?;
            gz.finish()?
        } else {
            let mut out = out;
            std::io::copy(&mut input, &mut out)?;
            out
        };
        out.sync_all()?;
    } else if std::fs::hard_link(&o.source, &dest).is_err() {
        std::fs::copy(&o.source, &dest)?;
    }
    let size = std::fs::metadata(&dest)?.len();
    Ok(Output {
        name: o.name.clone(),
        key: o.key.clone(),
        size,
        duration_ms: 0,
        width: 0,
        height: 0,
        sha256: None,
    })
}

type ConvertOutcome = Result<Summary, (Kind, String, String)>;

/// Converts on a blocking thread (the work is CPU-bound and threaded), with
/// progress (video `nth.0` of `nth.1`) saved to the store at most once a second.
async fn run_convert(
    app: &Arc<App>,
    id: &str,
    parts: Vec<PathBuf>,
    out: PathBuf,
    nth: (usize, usize),
) -> ConvertOutcome {
    let app = app.clone();
    let id = id.to_string();
    let settings = app.config.encode.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let mut last = Instant::now();
        let mut progress = |p: crate::convert::Progress| {
            if last.elapsed() >= Duration::from_secs(1) && p.span_ms > 0 {
                last = Instant::now();
                let within = p.at_ms as f64 / p.span_ms as f64;
                let _ = app.store.set_progress(&id, (nth.0 as f64 + within) / nth.1.max(1) as f64);
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

/// Stores every file in order (the index last), then leaves the `stored` mark.
async fn store_all(
    app: &Arc<App>,
    task: &Task,
    dir: &Path,
    log: &TaskLog,
    produced: &Produced,
    report: Option<&SessionReport>,
) -> Result<(), Failure> {
    app.store.mark_uploading(&task.id, &produced.outputs).map_err(|e| Failure::transient(e.to_string()))?;
    let storage = select::for_task(app, task).map_err(Failure::transient)?;
    if let Some(r) = report {
        r.event("replay_upload_start", "").await;
    }
    let t = Instant::now();
    for output in &produced.outputs {
        let file = dir.join("output").join(&output.name);
        log.line(format!("storing {} as {} in {}", output.name, output.key, storage.describe()));
        match storage.put_file(&output.key, &file).await {
            Ok(stored) => metrics::counter!("video_worker_bytes_out_total").increment(stored.size),
            Err(e) => {
                app.set_storage_error(Some(e.to_string()));
                report_upload_failure(dir, report, &e.to_string()).await;
                return Err(Failure::transient(e.to_string()));
            }
        }
    }
    app.set_storage_error(None);
    let total: u64 = produced.outputs.iter().map(|o| o.size).sum();
    log.line(format!(
        "stored {} file(s), {total} bytes, in {:.2} s",
        produced.outputs.len(),
        t.elapsed().as_secs_f64()
    ));
    write_durably(&dir.join("output/stored"), b"")?;
    if let Some(r) = report {
        r.event("replay_upload_success", "").await;
    }
    Ok(())
}

/// Tells core about the first failed upload only: retries during a long
/// outage would otherwise fill the session's history.
async fn report_upload_failure(dir: &Path, report: Option<&SessionReport>, why: &str) {
    let mark = dir.join("output/upload_failure_reported");
    if let Some(r) = report
        && !mark.exists()
    {
        r.event("replay_upload_failure", why).await;
        let _ = std::fs::write(mark, why);
    }
}

/// `has_replay` with the stored size (all files but the index), and the
/// error reason when the originals were stored instead of videos.
async fn tell_core(report: &SessionReport, produced: &Produced, log: &TaskLog) -> Result<(), Failure> {
    let size: u64 = produced.outputs.iter().filter(|o| !o.name.ends_with(".json")).map(|o| o.size).sum();
    report
        .replay_stored(size)
        .await
        .map_err(|e| Failure::transient(format!("cannot mark the replay in core: {e}")))?;
    if produced.fallback.is_some() {
        report.convert_failed().await.map_err(|e| Failure::transient(format!("cannot tell core: {e}")))?;
    }
    log.line(format!("core knows the replay: has_replay, replay_size {size}"));
    Ok(())
}

async fn finish(
    app: &Arc<App>,
    task: &Task,
    dir: &Path,
    log: &TaskLog,
    produced: Produced,
    started: Instant,
) {
    let note = produced.fallback.as_ref().map(|why| format!("not converted, original stored: {why}"));
    if let Err(e) = app.store.mark_done(&task.id, &produced.outputs, note.as_deref()) {
        // Stored but not recorded: the next attempt finds the files stored.
        fail(app, task, log, Failure::transient(e.to_string()));
        return;
    }
    // Only now, with every file confirmed stored, does the recording go.
    match std::fs::remove_dir_all(dir.join("input")) {
        Ok(()) => log.line("the received recording was deleted"),
        Err(e) => log.line(format!("could not delete the received recording: {e}")),
    }
    log.line(format!("done in {:.2} s", started.elapsed().as_secs_f64()));
    let keys: Vec<&str> = produced.outputs.iter().map(|o| o.key.as_str()).collect();
    tracing::info!(task = %task.id, session = %task.session_id, keys = ?keys, "task done");
    inbox::settle(app, task, true, log);
    postprocess::run_all(app, task, &produced.outputs, log).await;
    if crate::seal::installed().is_some() {
        // Sealing promises no session data in clear at rest: the stored
        // files are not kept here (fetch them from the storage).
        for o in &produced.outputs {
            let _ = std::fs::remove_file(dir.join("output").join(&o.name));
        }
        log.line("the local copies of the stored files were removed (VIDEO_WORKER_SECRET_KEY is set)");
    }
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
