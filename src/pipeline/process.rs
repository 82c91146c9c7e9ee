//! Running one task: make its files (see `plan`), store them, report them
//! (gateway tasks), then delete the received recording and run the
//! post-processing scripts.
//!
//! Each step leaves a durable trace in the task directory before the next
//! begins (see `task_dir`), so a task interrupted anywhere resumes without
//! redoing finished work: a video whose description exists is not converted
//! again, a task whose files are all made goes straight to storing, and one
//! whose files are all stored only reports.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::Pipeline;
use super::gateway_job::{PartVideo, rewrite};
use super::inbox;
use super::model::{Output, Task};
use super::plan::{self, Index, Original, Plan, Video};
use super::ports::{Event, PortError, ReportError, SessionReporter, Storage, StorageError};
use super::postprocess;
use super::queue::{Lease, Outcome, QueueError};
use super::retry::{self, Kind};
use super::task_dir::{TaskDir, write_durably};
use super::tasklog::TaskLog;
use crate::convert::{ConvertError, Summary, convert};
use crate::seal::Key;

/// Why an attempt ended early; each keeps its cause.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{video}: {source}")]
    Convert {
        video: String,
        #[source]
        source: ConvertError,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Port(#[from] PortError),
    #[error("cannot mark the replay in core: {0}")]
    Report(#[source] ReportError),
    /// The input cannot become anything: no parts, or a seal that does not open.
    #[error("{0}")]
    Input(String),
    #[error("the conversion thread failed: {0}")]
    Thread(#[from] tokio::task::JoinError),
}

impl TaskError {
    fn io(what: impl std::fmt::Display, source: std::io::Error) -> TaskError {
        TaskError::Io { what: what.to_string(), source }
    }

    /// Whether another attempt may succeed (then the task is retried).
    pub fn is_transient(&self) -> bool {
        match self {
            TaskError::Convert { source, .. } => retry::classify(source) == Kind::Transient,
            TaskError::Report(r) => r.transient,
            TaskError::Input(_) => false,
            _ => true,
        }
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
    fn load(dir: &TaskDir) -> Option<Produced> {
        let p: Produced = serde_json::from_slice(&std::fs::read(dir.produced()).ok()?).ok()?;
        let complete =
            p.outputs.iter().flat_map(Output::files).all(|(name, ..)| dir.output_file(name).is_file());
        complete.then_some(p)
    }

    fn save(&self, dir: &TaskDir) -> Result<(), TaskError> {
        let path = dir.produced();
        write_durably(&path, &serde_json::to_vec_pretty(self).unwrap_or_default())
            .map_err(|e| TaskError::io(path.display(), e))
    }
}

/// What one attempt works with.
struct Attempt<'a> {
    pipeline: &'a Pipeline,
    task: &'a Task,
    dir: TaskDir,
    log: TaskLog,
    reporter: Option<Arc<dyn SessionReporter>>,
    /// Progress of the conversion, read by the lease's heartbeat.
    progress: watch::Sender<f64>,
    /// Whether the storage takes the keystroke track and thumbnails.
    sidecars: bool,
}

/// Runs one claimed task to its next resting state (done, failed, or queued
/// for a retry) and settles its lease.
pub async fn run(pipeline: &Pipeline, lease: Box<dyn Lease>) {
    let task = lease.task().clone();
    let dir = pipeline.task_dir(&task.id);
    let log = dir.log();
    log.line(format!("attempt {} started on worker {}", task.attempts, pipeline.settings.name));
    tracing::info!(task = %task.id, session = %task.session_id, attempt = task.attempts, "task started");
    let started = Instant::now();
    let (progress, seen) = watch::channel(0.0);
    let outcome = {
        let work = attempt(pipeline, &task, &*lease, dir.clone(), progress);
        tokio::select! {
            r = work => r,
            never = heartbeat(&*lease, seen) => match never {},
        }
    };
    match outcome {
        Ok((produced, storage)) => {
            let note = produced.fallback.as_ref().map(|why| format!("not converted, original stored: {why}"));
            let done = Outcome::Done { outputs: produced.outputs.clone(), note };
            match lease.settle(done).await {
                Ok(()) => after_done(pipeline, &task, &dir, &log, &produced, &*storage, started).await,
                Err(QueueError::LostClaim(_)) => refused(&task, &dir, &log),
                // Stored but not recorded: the next attempt finds the files stored.
                Err(e) => tracing::error!(task = %task.id, error = %e, "cannot record the finished task"),
            }
        }
        Err(_) if lease.is_lost() => refused(&task, &dir, &log),
        Err(e) => match lease.settle(failed(pipeline, &task, &log, e)).await {
            Err(QueueError::LostClaim(_)) => refused(&task, &dir, &log),
            Err(e) => tracing::error!(task = %task.id, error = %e, "cannot record how the task ended"),
            Ok(()) => {}
        },
    }
}

/// Another node claimed the task while this one was cut off: this
/// attempt's late result is refused, and its files here go (the other
/// node has its own copy of the staged recording).
fn refused(task: &Task, dir: &TaskDir, log: &TaskLog) {
    log.line("the claim was lost to another node: this attempt's late result is refused");
    tracing::warn!(task = %task.id, "the claim was lost to another node: this attempt's late result is refused and its local files removed");
    let _ = std::fs::remove_dir_all(dir.input());
    let _ = std::fs::remove_dir_all(dir.output());
}

/// Passes progress to the queue while the task runs: at each change, and at
/// least every few seconds so a queue whose claims expire keeps this one.
async fn heartbeat(lease: &dyn Lease, mut seen: watch::Receiver<f64>) -> std::convert::Infallible {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut last = (f64::NAN, Instant::now());
    loop {
        ticker.tick().await;
        let now = *seen.borrow_and_update();
        if now != last.0 || last.1.elapsed() >= Duration::from_secs(5) {
            if let Err(e) = lease.progress(now).await
                && !matches!(e, QueueError::LostClaim(_))
            {
                tracing::warn!(task = %lease.task().id, error = %e, "cannot record the progress");
            }
            last = (now, Instant::now());
        }
    }
}

async fn attempt(
    pipeline: &Pipeline,
    task: &Task,
    lease: &dyn Lease,
    dir: TaskDir,
    progress: watch::Sender<f64>,
) -> Result<(Produced, Arc<dyn Storage>), TaskError> {
    let reporter = pipeline.reporting.reporter_for(task)?;
    let storage = pipeline.destinations.storage_for(task)?;
    let log = dir.log();
    let sidecars = storage.takes_sidecars();
    let a = Attempt { pipeline, task, dir, log, reporter, progress, sidecars };
    let produced = match Produced::load(&a.dir) {
        Some(p) => {
            a.log.line("the files of an earlier attempt are complete; storing them");
            p
        }
        None => produce(&a).await?,
    };
    if !a.dir.is_stored() {
        store_all(&a, lease, &produced, &*storage).await?;
    }
    if let Some(r) = &a.reporter {
        // Only the holder of the claim tells anyone (a node cut off past
        // its claim must not report what another node now does).
        lease.confirm().await?;
        tell_core(&**r, &produced, &a.log).await?;
    }
    Ok((produced, storage))
}

async fn event(a: &Attempt<'_>, e: Event, reason: &str) {
    if let Some(r) = &a.reporter {
        r.event(e, reason).await;
    }
}

/// Makes the task's files: its videos, or, when a gateway's recording
/// cannot be converted at all, the originals the gateway would have stored.
async fn produce(a: &Attempt<'_>) -> Result<Produced, TaskError> {
    a.dir.create_output().map_err(|e| TaskError::io(a.dir.output().display(), e))?;
    let plan = plan::plan(a.task, &a.dir).map_err(|e| TaskError::io("cannot list the inputs", e))?;
    event(a, Event::ConvertStart, "").await;
    let produced = match make_videos(a, &plan).await {
        Ok(outputs) => {
            event(a, Event::ConvertSuccess, "").await;
            Produced { outputs, fallback: None }
        }
        Err(e) if !e.is_transient() => keep_originals(a, e).await?,
        Err(e) => return Err(e),
    };
    produced.save(&a.dir)?;
    Ok(produced)
}

/// Converts every planned video (skipping those an earlier attempt made),
/// then writes the index that names them.
async fn make_videos(a: &Attempt<'_>, plan: &Plan) -> Result<Vec<Output>, TaskError> {
    let mut outputs = Vec::new();
    for (i, video) in plan.videos.iter().enumerate() {
        let output = match read_output(&a.dir, &video.name) {
            Some(done) => done,
            None => make_video(a, video, (i, plan.videos.len())).await?,
        };
        outputs.push(output);
    }
    if let Some(index) = &plan.index {
        outputs.push(write_index(index, &outputs, &a.dir)?);
    }
    Ok(outputs)
}

/// A video an earlier attempt finished.
fn read_output(dir: &TaskDir, name: &str) -> Option<Output> {
    let text = std::fs::read_to_string(dir.video_record(name)).ok()?;
    let output: Output = serde_json::from_str(&text).ok()?;
    let complete = output.files().all(|(name, ..)| dir.output_file(name).is_file());
    complete.then_some(output)
}

async fn make_video(a: &Attempt<'_>, video: &Video, nth: (usize, usize)) -> Result<Output, TaskError> {
    if video.inputs.is_empty() {
        return Err(TaskError::Input("the task has no input".into()));
    }
    check_seals(&video.inputs, a.pipeline.key.clone()).await?;
    let bytes: u64 = video.inputs.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    a.log.line(format!("converting {} part(s), {bytes} bytes, into {}", video.inputs.len(), video.name));
    let out = a.dir.output_file(&video.name);
    let summary = match run_convert(a, video.inputs.clone(), out.clone(), nth).await? {
        Ok(s) => s,
        Err(source) => {
            if let ConvertError::Encode(crate::encode::EncodeError::Failed { tail, .. }) = &source
                && !tail.is_empty()
            {
                a.log.line(format!("ffmpeg said:\n{tail}"));
            }
            return Err(TaskError::Convert { video: video.name.clone(), source });
        }
    };
    log_summary(&a.log, &summary);
    let sha256 = {
        let path = out.clone();
        tokio::task::spawn_blocking(move || sha256_file(&path))
            .await?
            .map_err(|e| TaskError::io(out.display(), e))?
    };
    let output = Output {
        name: video.name.clone(),
        key: video.key.clone(),
        size: summary.output_bytes,
        duration_ms: summary.span_ms,
        width: summary.width,
        height: summary.height,
        sha256: Some(sha256),
        sidecars: summary.sidecars.iter().filter_map(|f| sidecar_file(f, &video.key)).collect(),
    };
    let record = a.dir.video_record(&video.name);
    write_durably(&record, &serde_json::to_vec_pretty(&output).unwrap_or_default())
        .map_err(|e| TaskError::io(record.display(), e))?;
    metrics::histogram!("video_worker_conversion_seconds").record(summary.wall.as_secs_f64());
    metrics::counter!("video_worker_conversions_total").increment(1);
    Ok(output)
}

/// A sidecar as stored: beside the video, under the video's key's folder.
fn sidecar_file(made: &crate::convert::Sidecar, video_key: &str) -> Option<super::model::SidecarFile> {
    let name = made.path.file_name()?.to_str()?.to_string();
    let size = std::fs::metadata(&made.path).ok()?.len();
    let key = match video_key.rsplit_once('/') {
        Some((folder, _)) => format!("{folder}/{name}"),
        None => name.clone(),
    };
    Some(super::model::SidecarFile { kind: made.kind.as_str().into(), name, key, size })
}

/// Sealed inputs must open, every chunk, before anything is made of them:
/// a wrong key or an altered file is the task's clear failure, never a
/// video of garbage.
async fn check_seals(inputs: &[PathBuf], key: Option<Arc<Key>>) -> Result<(), TaskError> {
    let inputs = inputs.to_vec();
    let checked = tokio::task::spawn_blocking(move || {
        for p in &inputs {
            crate::seal::verify_if_sealed(p, key.as_deref()).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        Ok::<(), String>(())
    })
    .await?;
    checked.map_err(TaskError::Input)
}

/// `<sid>.replay.json` naming the videos (everything but the index itself).
fn write_index(index: &Index, videos: &[Output], dir: &TaskDir) -> Result<Output, TaskError> {
    let parts: Vec<PartVideo<'_>> = videos
        .iter()
        .map(|o| PartVideo {
            name: &o.name,
            size: o.size,
            duration_ms: o.duration_ms,
            checksum: o.sha256.as_deref().unwrap_or(""),
        })
        .collect();
    write_json_output(index, &rewrite(&index.meta, &parts), dir)
}

fn write_json_output(index: &Index, value: &serde_json::Value, dir: &TaskDir) -> Result<Output, TaskError> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let path = dir.output_file(&index.name);
    write_durably(&path, &bytes).map_err(|e| TaskError::io(path.display(), e))?;
    Ok(Output {
        name: index.name.clone(),
        key: index.key.clone(),
        size: bytes.len() as u64,
        duration_ms: 0,
        width: 0,
        height: 0,
        sha256: None,
        sidecars: Vec::new(),
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
    Ok(super::spool::hex(&hasher.finalize()))
}

/// The recording cannot become a video: store what the gateway would have
/// stored, so the session stays replayable. Standalone tasks just fail.
async fn keep_originals(a: &Attempt<'_>, why: TaskError) -> Result<Produced, TaskError> {
    let key = a.pipeline.key.clone();
    let is_gzip = |p: &Path| crate::guac::input::is_gzip_file(p, key.as_deref());
    let Ok(Some((originals, index))) = plan::originals(a.task, &a.dir, is_gzip) else {
        return Err(why);
    };
    let reason = why.to_string();
    a.log.line(format!("conversion failed for good ({reason}); storing the original recording instead"));
    event(a, Event::ConvertFailure, &reason).await;
    let mut outputs = Vec::new();
    for o in &originals {
        let placed = place_original(o, &a.dir, a.pipeline.key.as_deref())
            .map_err(|e| TaskError::Input(format!("{}: {e}", o.name)))?;
        outputs.push(placed);
    }
    if let Some(index) = &index {
        outputs.push(write_json_output(index, &index.meta, &a.dir)?);
    }
    Ok(Produced { outputs, fallback: Some(reason) })
}

/// Puts an original file in the output directory under its stored name, as
/// the gateway had it: unsealed, gzipped when a legacy recording came raw,
/// else a hard link (no copy).
fn place_original(o: &Original, dir: &TaskDir, key: Option<&Key>) -> std::io::Result<Output> {
    let dest = dir.output_file(&o.name);
    let _ = std::fs::remove_file(&dest);
    if o.gzip || key.is_some() {
        let mut input = crate::guac::input::open_plain(&o.source, key)?;
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
        sidecars: Vec::new(),
    })
}

/// Converts on a blocking thread (the work is CPU-bound and threaded), with
/// progress (video `nth.0` of `nth.1`) passed to the lease's heartbeat.
async fn run_convert(
    a: &Attempt<'_>,
    parts: Vec<PathBuf>,
    out: PathBuf,
    nth: (usize, usize),
) -> Result<Result<Summary, ConvertError>, TaskError> {
    let settings = a.pipeline.settings.encode.clone();
    let extras = if a.sidecars { a.pipeline.settings.extras.clone() } else { Default::default() };
    let key = a.pipeline.key.clone();
    let open = a.pipeline.settings.open.clone();
    let progress = a.progress.clone();
    Ok(tokio::task::spawn_blocking(move || {
        let mut report = |p: crate::convert::Progress| {
            if p.span_ms > 0 {
                let within = p.at_ms as f64 / p.span_ms as f64;
                progress.send_replace((nth.0 as f64 + within) / nth.1.max(1) as f64);
            }
        };
        // Guacamole parts, terminal recordings, downloads: told apart by content.
        let recording = crate::playback::open_with(&parts, key, &open)?;
        convert(&*recording, &out, &settings, &extras, &mut report)
    })
    .await?)
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
    log.line(format!("cpu: {}", s.report.cpu.describe()));
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
    a: &Attempt<'_>,
    lease: &dyn Lease,
    produced: &Produced,
    storage: &dyn Storage,
) -> Result<(), TaskError> {
    lease.uploading(&produced.outputs).await?;
    event(a, Event::UploadStart, "").await;
    let t = Instant::now();
    for (name, key, _) in produced.outputs.iter().flat_map(Output::files) {
        let file = a.dir.output_file(name);
        a.log.line(format!("storing {name} as {key} in {}", storage.describe()));
        match storage.put_file(key, &file).await {
            Ok(stored) => metrics::counter!("video_worker_bytes_out_total").increment(stored.size),
            Err(e) => {
                a.pipeline.status.set_storage_error(Some(e.to_string()));
                report_upload_failure(a, &e.to_string()).await;
                return Err(e.into());
            }
        }
    }
    a.pipeline.status.set_storage_error(None);
    let (count, total) = produced
        .outputs
        .iter()
        .flat_map(Output::files)
        .fold((0, 0u64), |(n, b), (.., size)| (n + 1, b + size));
    a.log.line(format!("stored {count} file(s), {total} bytes, in {:.2} s", t.elapsed().as_secs_f64()));
    a.dir.mark_stored().map_err(|e| TaskError::io("the stored mark", e))?;
    event(a, Event::UploadSuccess, "").await;
    Ok(())
}

/// Reports the first failed upload only: retries during a long outage would
/// otherwise fill the session's history.
async fn report_upload_failure(a: &Attempt<'_>, why: &str) {
    if a.reporter.is_some() && !a.dir.upload_failure_reported() {
        event(a, Event::UploadFailure, why).await;
        a.dir.mark_upload_failure_reported(why);
    }
}

/// `has_replay` with the stored size (all files but the index), and the
/// error reason when the originals were stored instead of videos.
async fn tell_core(
    reporter: &dyn SessionReporter,
    produced: &Produced,
    log: &TaskLog,
) -> Result<(), TaskError> {
    let size: u64 = produced.outputs.iter().filter(|o| !o.name.ends_with(".json")).map(|o| o.size).sum();
    reporter.replay_stored(size).await.map_err(TaskError::Report)?;
    if produced.fallback.is_some() {
        reporter.convert_failed().await.map_err(TaskError::Report)?;
    }
    log.line(format!("core knows the replay: has_replay, replay_size {size}"));
    Ok(())
}

/// What follows a task recorded as done: only now, with every file
/// confirmed stored and the task committed, does the recording go.
async fn after_done(
    pipeline: &Pipeline,
    task: &Task,
    dir: &TaskDir,
    log: &TaskLog,
    produced: &Produced,
    storage: &dyn Storage,
    started: Instant,
) {
    match dir.remove_input() {
        Ok(()) => log.line("the received recording was deleted"),
        Err(e) => log.line(format!("could not delete the received recording: {e}")),
    }
    log.line(format!("done in {:.2} s", started.elapsed().as_secs_f64()));
    let keys: Vec<&str> = produced.outputs.iter().map(|o| o.key.as_str()).collect();
    tracing::info!(task = %task.id, session = %task.session_id, keys = ?keys, "task done");
    inbox::settle(pipeline, task, true, log);
    postprocess::run_all(pipeline, task, &produced.outputs, storage, log).await;
    if pipeline.key.is_some() {
        // Sealing promises no session data in clear at rest: the stored
        // files are not kept here (fetch them from the storage).
        for (name, ..) in produced.outputs.iter().flat_map(Output::files) {
            let _ = std::fs::remove_file(dir.output_file(name));
        }
        log.line("the local copies of the stored files were removed (VIDEO_WORKER_SECRET_KEY is set)");
    }
}

fn failed(pipeline: &Pipeline, task: &Task, log: &TaskLog, e: TaskError) -> Outcome {
    let message = e.to_string();
    if e.is_transient() {
        let max = pipeline.settings.retry_max_delay.as_millis() as i64;
        let delay = retry::backoff_ms(task.attempts, max);
        log.line(format!(
            "attempt {} failed, retrying in {:.0} s: {message}",
            task.attempts,
            delay as f64 / 1000.0
        ));
        tracing::warn!(task = %task.id, attempt = task.attempts, delay_ms = delay, error = %message, "task will retry");
        metrics::counter!("video_worker_retries_total").increment(1);
        Outcome::Retry { error: message, delay_ms: delay }
    } else {
        log.line(format!("failed: {message}"));
        tracing::warn!(task = %task.id, error = %message, "task failed for good");
        metrics::counter!("video_worker_failures_total").increment(1);
        inbox::settle(pipeline, task, false, log);
        Outcome::Failed { error: message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::intake::{Intake, NewTask};
    use crate::pipeline::model::{Origin, State};
    use crate::pipeline::testing::{Harness, tiny_recording};

    async fn submit(h: &Harness, bytes: Vec<u8>) -> String {
        let new = NewTask {
            session_id: Some("s-7".into()),
            metadata: serde_json::json!({}),
            origin: Origin::Api,
            session_date: None,
        };
        let mut intake = Intake::begin(&h.pipeline, new).await.unwrap();
        let body = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))]);
        intake.write_part(body).await.unwrap();
        intake.commit().await.unwrap()
    }

    async fn run_next(h: &Harness) -> Task {
        let lease = h
            .pipeline
            .queue
            .next("w", Duration::ZERO, &Default::default())
            .await
            .unwrap()
            .expect("a task is due");
        let id = lease.task().id.clone();
        run(&h.pipeline, lease).await;
        h.pipeline.queue.get(&id).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn a_recording_becomes_a_stored_mp4_and_its_input_goes() {
        let h = Harness::new();
        let id = submit(&h, tiny_recording()).await;
        let task = run_next(&h).await;
        assert_eq!(task.state, State::Done, "{:?}\n{}", task.last_error, h.log(&id));
        let out = &task.outputs[0];
        assert!(out.key.ends_with("/s-7/s-7.mp4"), "{}", out.key);
        assert_eq!(h.stored(&out.key).map(|b| b.len() as u64), Some(out.size));
        assert!(!h.pipeline.task_dir(&id).input().exists(), "the input is deleted once stored");
        assert!(h.log(&id).contains("done in"));
    }

    #[tokio::test]
    async fn a_storage_outage_retries_without_converting_again() {
        let h = Harness::new();
        h.storage.fail(true);
        let id = submit(&h, tiny_recording()).await;
        let task = run_next(&h).await;
        assert_eq!(task.state, State::Queued);
        assert!(task.last_error.as_deref().unwrap_or("").contains("down"), "{:?}", task.last_error);
        assert!(task.next_attempt_at > 0);
        assert!(h.pipeline.task_dir(&id).input().exists(), "nothing is deleted before it is stored");
        h.storage.fail(false);
        // Due at once for the test: the backoff itself is tested in `retry`.
        h.make_due(&id).await;
        let task = run_next(&h).await;
        assert_eq!(task.state, State::Done);
        assert!(h.log(&id).contains("the files of an earlier attempt are complete"));
        assert_eq!(h.storage.puts(), 2, "one failed put, one good one");
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_recording_fails_for_good_with_its_cause() {
        let h = Harness::new();
        let id = submit(&h, b"this is not a guacamole recording at all".to_vec()).await;
        let task = run_next(&h).await;
        assert_eq!(task.state, State::Failed);
        assert!(task.last_error.unwrap().contains("not a Guacamole recording"));
        assert!(h.pipeline.task_dir(&id).input().exists(), "a failed recording is kept as evidence");
        assert_eq!(h.storage.puts(), 0);
    }

    #[tokio::test]
    async fn gateway_tasks_wait_while_no_reporter_serves_them() {
        let h = Harness::new();
        let job = crate::pipeline::gateway_job::GatewayJob::Legacy { fields: Default::default() };
        let new = NewTask {
            session_id: Some("g1".into()),
            metadata: serde_json::json!({}),
            origin: Origin::Gateway { job },
            session_date: None,
        };
        let mut intake = Intake::begin(&h.pipeline, new).await.unwrap();
        let body =
            futures_util::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(tiny_recording()))]);
        intake.write_part(body).await.unwrap();
        intake.commit().await.unwrap();
        let task = run_next(&h).await;
        assert_eq!(task.state, State::Queued, "retried, never planned as a standalone video");
        assert!(task.last_error.unwrap().contains("CORE_HOST"));
        assert_eq!(h.storage.puts(), 0);
    }
}
