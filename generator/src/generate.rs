//! The async entry point: writes every file of a spec to an output, several at a time, then
//! the manifest of bad rows, and returns the run's summary.

use std::sync::Arc;

use indicatif::ProgressBar;
use tokio::task::JoinSet;

use crate::dataset::{Dataset, FileOutcome};
use crate::dirty::Manifest;
use crate::error::GenerateError;
use crate::output::Output;
use crate::sink::{Encoder, Target};
use crate::spec::Spec;
use crate::summary::Summary;

/// Name of the bad-row manifest written beside the files.
pub const MANIFEST_NAME: &str = "manifest.json";
/// Name of the summary [`write_summary`] writes beside the files.
pub const SUMMARY_NAME: &str = "summary.json";

/// Writes every file of `spec` to `out`, then `manifest.json` beside them, and returns the
/// summary. Files are written `spec.jobs` at a time on tokio's blocking threads (row
/// formatting is CPU-bound), so any tokio runtime can call this. `progress`, when given, gets
/// its length set to `spec.rows` and advances by rows written.
///
/// # Errors
///
/// [`GenerateError::InvalidSpec`] before anything is written; otherwise the first write or S3
/// error. Files still being written when an error occurs are finished (or their uploads
/// aborted) before this returns; a local file that failed is removed.
pub async fn generate(
    spec: &Spec,
    out: &Output,
    progress: Option<ProgressBar>,
) -> Result<Summary, GenerateError> {
    spec.validate()?;
    let owned = spec.clone();
    let dataset = Arc::new(
        tokio::task::spawn_blocking(move || Dataset::new(&owned))
            .await
            .map_err(|e| GenerateError::Task(e.to_string()))??,
    );
    let target = Target::connect(out).await?;
    if let Some(progress) = &progress {
        progress.set_length(spec.rows);
    }

    let files = spec.files;
    let jobs = match spec.jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(files as usize);
    let mut outcomes: Vec<Option<FileOutcome>> = (0..files).map(|_| None).collect();
    let mut running = JoinSet::new();
    let mut next = 0u32;
    let mut first_error = None;
    loop {
        while first_error.is_none() && next < files && running.len() < jobs {
            let (dataset, target, progress) = (dataset.clone(), target.clone(), progress.clone());
            let index = next;
            running.spawn_blocking(move || {
                (
                    index,
                    write_one(&dataset, &target, index, progress.as_ref()),
                )
            });
            next += 1;
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        match joined {
            Ok((index, Ok(outcome))) => outcomes[index as usize] = Some(outcome),
            Ok((_, Err(error))) => {
                first_error.get_or_insert(error);
            }
            Err(join_error) => {
                first_error.get_or_insert(GenerateError::Task(join_error.to_string()));
            }
        }
    }
    if let Some(error) = first_error {
        return Err(error);
    }
    let outcomes: Vec<FileOutcome> = outcomes.into_iter().flatten().collect();

    let manifest = Manifest {
        seed: spec.seed,
        dirty: spec.dirty,
        bad_rows: outcomes
            .iter()
            .flat_map(|outcome| outcome.bad_rows.iter().cloned())
            .collect(),
    };
    target
        .put(MANIFEST_NAME, to_json(MANIFEST_NAME, &manifest)?)
        .await?;

    Ok(Summary {
        spec: spec.clone(),
        output: out.to_string(),
        total: dataset.totals(&outcomes),
        files: outcomes
            .into_iter()
            .map(|outcome| outcome.summary)
            .collect(),
    })
}

/// Writes `summary` as `summary.json` beside the files and returns where it went.
///
/// # Errors
///
/// [`GenerateError::Write`] or [`GenerateError::S3`] when the write fails.
pub async fn write_summary(out: &Output, summary: &Summary) -> Result<String, GenerateError> {
    let target = Target::connect(out).await?;
    target
        .put(SUMMARY_NAME, to_json(SUMMARY_NAME, summary)?)
        .await?;
    Ok(target.locate(SUMMARY_NAME))
}

/// Writes one file through the target's writer (gzip first when asked). Blocking.
fn write_one(
    dataset: &Dataset,
    target: &Target,
    index: u32,
    progress: Option<&ProgressBar>,
) -> Result<FileOutcome, GenerateError> {
    let name = dataset.spec().file_name(index);
    let result = (|| {
        let mut encoder = Encoder::new(target.open(&name)?, dataset.spec().gzip);
        let mut outcome = dataset.write_file(index, &mut encoder, progress)?;
        let writer = encoder.finish().map_err(|source| GenerateError::Write {
            target: target.locate(&name),
            source,
        })?;
        outcome.set_stored_bytes(writer.finish()?);
        Ok(outcome)
    })();
    if result.is_err() {
        target.discard(&name);
    }
    result
}

fn to_json(name: &'static str, value: &impl serde::Serialize) -> Result<Vec<u8>, GenerateError> {
    let mut body =
        serde_json::to_vec_pretty(value).map_err(|source| GenerateError::Json { name, source })?;
    body.push(b'\n');
    Ok(body)
}
