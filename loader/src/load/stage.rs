//! The COPY of one opened object into `staging_table` under its load id:
//! the trigger runs when it finishes.

use tokio_postgres::Transaction;

use super::work_mem::work_mem_for;
use super::LoadOptions;
use crate::copy::{stream_into, CopySink, Streamed};
use crate::encode::EncodeOptions;
use crate::error::{Error, Result};
use crate::source::Opened;

/// What the COPY staged.
pub(super) struct Staged {
    pub streamed: Streamed,
    /// Raw bytes read from the source.
    pub bytes: u64,
}

/// Streams the object through the encoder into `COPY staging_table` under
/// `load_id`, and checks that the server took every row the encoder sent.
/// (That every byte arrived, the source's reader checks as it reads.)
pub(super) async fn stage(
    tx: &Transaction<'_>,
    opened: Opened,
    options: &LoadOptions,
    load_id: i64,
    shown: &str,
) -> Result<Staged> {
    let raw_bytes = opened.raw_bytes.clone();
    // Before the COPY starts: the transition table's tuple store takes its
    // memory limit from work_mem when it is created. JIT would spend longer
    // compiling the trigger's statements than running them.
    let work_mem = work_mem_for(&options.work_mem, opened.size, opened.compressed);
    tx.execute(
        "SELECT pg_catalog.set_config('work_mem', $1, true),
                pg_catalog.set_config('jit', 'off', true)",
        &[&work_mem],
    )
    .await
    .map_err(|e| Error::db(shown, "setting work_mem", e))?;

    let mut sink = CopySink::start(tx, options.format, true, shown).await?;
    let encode = EncodeOptions {
        format: options.format,
        load_id: Some(load_id),
        max_rejects: options.max_rejects,
        max_record_bytes: options.max_record_bytes,
        contract: options.contract.clone(),
    };
    let streamed = stream_into(&mut sink, opened, encode, shown).await?;
    let rows = sink.finish().await?;
    if rows != streamed.summary.rows {
        return Err(Error::Protocol {
            object: shown.to_string(),
            message: format!(
                "the server counted {rows} rows, the encoder sent {}",
                streamed.summary.rows
            ),
        });
    }
    Ok(Staged {
        streamed,
        bytes: raw_bytes.get(),
    })
}
