//! The tries of one object: each from the start, with jittered backoff,
//! within the caller's deadline; a failure the load gives up on is recorded
//! in the ledger.

use std::time::Duration;

use tokio::time::Instant;

use super::attempt::{anonymous, Tried};
use super::{LoadReport, Loader};
use crate::error::{Error, Result};
use crate::ledger::{self, ObjectId};
use crate::source::Source;

/// How long recording a failure may take when no deadline bounds it (with
/// one, the time left: the handler answers before it in any case). A busy
/// pooler can queue the write for seconds; 4 s was seen to drop it.
const RECORD_FAILURE_WITHIN: Duration = Duration::from_secs(30);

impl Loader {
    /// Loads one object exactly once: retries retryable errors with jittered
    /// backoff (re-reading the object from its start), records a failure in
    /// the ledger when it gives up.
    ///
    /// # Errors
    /// The last attempt's error.
    pub async fn load(&mut self, source: &Source) -> Result<LoadReport> {
        self.load_within(source, None).await
    }

    /// [`Loader::load`], stopped the options' `deadline_margin` before
    /// `deadline` (a Lambda invocation's end): the load rolls back and is
    /// recorded as timed out.
    ///
    /// # Errors
    /// The last attempt's error; [`Error::Deadline`] when time ran out.
    pub async fn load_by(&mut self, source: &Source, deadline: Instant) -> Result<LoadReport> {
        self.load_within(source, Some(deadline)).await
    }

    async fn load_within(
        &mut self,
        source: &Source,
        deadline: Option<Instant>,
    ) -> Result<LoadReport> {
        let started = Instant::now();
        let margin = self.options.deadline_margin;
        let stop_at = deadline.map(|d| d.checked_sub(margin).unwrap_or(d));
        let mut known = None;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let tried = self.try_within(source, stop_at).await;
            known = tried.id.or(known);
            let error = match tried.result {
                Ok(report) => {
                    let id = known.unwrap_or_else(|| anonymous(source));
                    return Ok(report.finished(started, attempt, &id));
                }
                Err(e) => e,
            };
            self.drop_broken_connection(&error).await;
            let delay = backoff(self.options.backoff, attempt);
            let time_left = stop_at.is_none_or(|at| Instant::now() + delay < at);
            if error.is_retryable()
                && attempt < self.options.max_attempts
                && time_left
                && source.can_retry()
            {
                tracing::warn!(object = %source, attempt, error = %error, retry_in_ms = delay.as_millis() as u64, "load failed; retrying");
                tokio::time::sleep(delay).await;
                continue;
            }
            if !matches!(error, Error::Schema(_)) && !error.being_loaded_elsewhere() {
                let id = known.unwrap_or_else(|| anonymous(source));
                let within = deadline.map_or(RECORD_FAILURE_WITHIN, |d| {
                    d.saturating_duration_since(Instant::now())
                });
                self.record_failure(&id, &error, attempt, started.elapsed(), source, within)
                    .await;
            }
            return Err(error);
        }
    }

    /// One try, stopped at `stop_at`. The identity is learned first, so a
    /// try stopped later still knows which version it was loading.
    async fn try_within(&mut self, source: &Source, stop_at: Option<Instant>) -> Tried {
        let margin = self.options.deadline_margin;
        let stopped = || Error::Deadline {
            object: source.to_string(),
            margin,
        };
        let Some(at) = stop_at else {
            return match self.identity(source).await {
                Ok(identity) => self.attempt(source, identity).await,
                Err(e) => Tried::before_identity(e),
            };
        };
        let identity = match tokio::time::timeout_at(at, self.identity(source)).await {
            Ok(Ok(identity)) => identity,
            Ok(Err(e)) => return Tried::before_identity(e),
            Err(_) => return Tried::before_identity(stopped()),
        };
        let id = identity.id().clone();
        match tokio::time::timeout_at(at, self.attempt(source, identity)).await {
            Ok(tried) => tried,
            Err(_) => Tried {
                id: Some(id),
                result: Err(stopped()),
            },
        }
    }

    /// After a failed try: a connection stopped mid-statement (deadline)
    /// is cancelled, a broken one dropped; the next try connects anew.
    async fn drop_broken_connection(&mut self, error: &Error) {
        if matches!(error, Error::Deadline { .. }) {
            self.db.cancel_and_reset().await;
        } else if error.breaks_connection() {
            self.db.reset();
        }
    }

    async fn record_failure(
        &mut self,
        id: &ObjectId,
        error: &Error,
        attempts: u32,
        duration: Duration,
        source: &Source,
        within: Duration,
    ) {
        let shown = source.to_string();
        let timed_out = matches!(error, Error::Deadline { .. });
        let message = error.to_string();
        let write = async {
            let client = self.db.client().await?;
            ledger::record_failure(client, id, timed_out, &message, attempts, duration, &shown)
                .await
        };
        match tokio::time::timeout(within, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(object = %shown, error = %e, "could not record the failure in load_ledger")
            }
            Err(_) => {
                tracing::error!(object = %shown, "timed out recording the failure in load_ledger")
            }
        }
    }
}

/// Exponential backoff with jitter: a random delay in [d/2, d] where d
/// doubles per attempt from `base`, capped at 20 s.
fn backoff(base: Duration, attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let d = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(Duration::from_secs(20));
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    let unit = (h.finish() % 1000) as f64 / 1000.0;
    d.mul_f64(0.5 + 0.5 * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        // (attempt, the full delay in ms): doubling from the base, then 20 s.
        let expected = [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (8, 12_800),
            (9, 20_000),
            (17, 20_000),
            (29, 20_000),
        ];
        for (attempt, full_ms) in expected {
            let full = Duration::from_millis(full_ms);
            for _ in 0..20 {
                let d = backoff(base, attempt);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
            }
        }
        // Jittered: 50 draws are not all the same delay.
        let draws: std::collections::BTreeSet<Duration> =
            (0..50).map(|_| backoff(base, 3)).collect();
        assert!(draws.len() > 1, "{draws:?}");
    }
}
