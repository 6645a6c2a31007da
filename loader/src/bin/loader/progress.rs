//! A byte progress bar on stderr, only when stderr is a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use loader::ByteCounter;

/// Shows how many of the expected bytes have been read.
pub struct Progress {
    bar: Option<ProgressBar>,
    counter: ByteCounter,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// A bar for `total` bytes (a spinner when unknown); silent off a terminal.
    pub fn new(total: Option<u64>, label: &str) -> Self {
        let counter = ByteCounter::default();
        if !std::io::stderr().is_terminal() {
            return Progress {
                bar: None,
                counter,
                ticker: None,
            };
        }
        let bar = match total {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{prefix} {spinner} {bytes} {bytes_per_sec} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_prefix(label.to_string());
        let watched = counter.clone();
        let shown = bar.clone();
        let ticker = tokio::spawn(async move {
            loop {
                shown.set_position(watched.get());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Progress {
            bar: Some(bar),
            counter,
            ticker: Some(ticker),
        }
    }

    /// The counter the loads add their bytes to.
    pub fn counter(&self) -> &ByteCounter {
        &self.counter
    }

    /// Prints a line above the bar (or plainly when there is none).
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => crate::out::line(line),
        }
    }

    /// A short status next to the bar.
    pub fn message(&self, msg: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
        }
    }

    /// Removes the bar.
    pub fn finish(self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
