//! Post-processing scripts, run after a task's MP4 is stored. Each gets one
//! argument, a JSON object describing the result; its exit code, output and
//! any timeout go to the task log. A failing script is reported but never
//! undoes the stored MP4.

use std::process::Stdio;
use std::time::Duration;

use super::Pipeline;
use super::model::{Output, Task};
use super::ports::Storage;
use super::tasklog::TaskLog;

/// The JSON handed to every script.
pub fn describe(
    pipeline: &Pipeline,
    task: &Task,
    output: &Output,
    storage: &dyn Storage,
) -> serde_json::Value {
    serde_json::json!({
        "task_id": task.id,
        "session_id": task.session_id,
        "file_name": output.name,
        "key": output.key,
        // Where the file can be read locally: in the local storage when the
        // task's storage is on this machine; else in the task's directory
        // (until cleanup), the file having gone to a remote storage (`key` there).
        "path": storage
            .local_path(&output.key)
            .unwrap_or_else(|| pipeline.task_dir(&task.id).output_file(&output.name)),
        "size": output.size,
        "duration_ms": output.duration_ms,
        "width": output.width,
        "height": output.height,
        "worker": pipeline.settings.name,
        "metadata": task.metadata,
        // A gateway task's announcement (user, asset, dates), as before the job had its own column.
        "gateway": task.origin.gateway_job(),
    })
}

pub async fn run_all(
    pipeline: &Pipeline,
    task: &Task,
    outputs: &[Output],
    storage: &dyn Storage,
    log: &TaskLog,
) {
    for script in &pipeline.settings.post_processing_scripts {
        for output in outputs {
            let arg = describe(pipeline, task, output, storage).to_string();
            let outcome = run_one(script, &arg, pipeline.settings.post_processing_timeout).await;
            log.line(format!("post-processing {}: {outcome}", script.display()));
            if !outcome.starts_with("exit status 0") {
                tracing::warn!(task = %task.id, script = %script.display(), outcome = %outcome.lines().next().unwrap_or(""), "post-processing script failed");
                metrics::counter!("video_worker_postprocess_failures_total").increment(1);
            }
        }
    }
}

async fn run_one(script: &std::path::Path, arg: &str, timeout: Duration) -> String {
    let child = tokio::process::Command::new(script)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => return format!("cannot start: {e}"),
    };
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => format!("killed after the {} s timeout", timeout.as_secs()),
        Ok(Err(e)) => format!("failed: {e}"),
        Ok(Ok(out)) => {
            let code =
                out.status.code().map_or_else(|| out.status.to_string(), |c| format!("exit status {c}"));
            let mut text = code;
            for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
                let s = String::from_utf8_lossy(bytes);
                if !s.trim().is_empty() {
                    text.push_str(&format!("\n{name}:\n{}", s.trim_end()));
                }
            }
            text
        }
    }
}
