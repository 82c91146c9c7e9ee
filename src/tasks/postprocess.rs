//! Post-processing scripts, run after a task's MP4 is stored. Each gets one
//! argument, a JSON object describing the result; its exit code, output and
//! any timeout go to the task log. A failing script is reported but never
//! undoes the stored MP4.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crate::service::app::App;
use crate::tasks::model::{Output, Source, Task};
use crate::tasks::tasklog::TaskLog;

/// The JSON handed to every script.
pub fn describe(app: &App, task: &Task, output: &Output) -> serde_json::Value {
    serde_json::json!({
        "task_id": task.id,
        "session_id": task.session_id,
        "file_name": output.name,
        "key": output.key,
        // Where the file can be read locally: in LOCAL_STORAGE_DIR for
        // standalone tasks; in the task's directory (until cleanup) for
        // gateway tasks, whose files went to core's storage (`key` there).
        "path": match task.source {
            Source::Gateway => app.task_dir(&task.id).join("output").join(&output.name),
            _ => app.config.local_storage_dir.join(&output.key),
        },
        "size": output.size,
        "duration_ms": output.duration_ms,
        "width": output.width,
        "height": output.height,
        "worker": app.config.name,
        "metadata": task.metadata,
    })
}

pub async fn run_all(app: &Arc<App>, task: &Task, outputs: &[Output], log: &TaskLog) {
    for script in &app.config.post_processing_scripts {
        for output in outputs {
            let arg = describe(app, task, output).to_string();
            let outcome = run_one(script, &arg, app.config.post_processing_timeout).await;
            log.line(format!("post-processing {}: {outcome}", script.display()));
            if !outcome.starts_with("exit status 0") {
                tracing::warn!(task = %task.id, script = %script.display(), outcome = %outcome.lines().next().unwrap_or(""), "post-processing script failed");
                metrics::counter!("video_worker_postprocess_failures_total").increment(1);
            }
        }
    }
}

async fn run_one(script: &std::path::Path, arg: &str, timeout_s: u64) -> String {
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
    match tokio::time::timeout(Duration::from_secs(timeout_s), child.wait_with_output()).await {
        Err(_) => format!("killed after the {timeout_s} s timeout"),
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
