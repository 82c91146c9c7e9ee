//! Progress of a conversion: a bar with ETA on a terminal, plain lines
//! (every 10 %) when stderr is a file or pipe, as in a service log.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

pub struct ProgressReporter {
    bar: Option<ProgressBar>,
    started: Instant,
    last_decile: i64,
}

impl ProgressReporter {
    pub fn new() -> ProgressReporter {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{bar:40}] {percent:>3}% session {msg} elapsed {elapsed} ETA {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
        ProgressReporter { bar, started: Instant::now(), last_decile: -1 }
    }

    pub fn update(&mut self, at_ms: i64, span_ms: i64) {
        let span = span_ms.max(1) as u64;
        let at = at_ms.clamp(0, span_ms.max(1)) as u64;
        if let Some(bar) = &self.bar {
            bar.set_length(span);
            bar.set_position(at);
            bar.set_message(format!("{}/{} s", at / 1000, span / 1000));
            return;
        }
        let decile = (at * 10 / span) as i64;
        if decile > self.last_decile {
            self.last_decile = decile;
            eprintln!(
                "progress: {:>3}% ({} of {} s of session) after {:.1} s",
                decile * 10,
                at / 1000,
                span / 1000,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
