//! Where the time of a full load goes: the loader's own steps run one at a time, each timed,
//! in one transaction as a load runs them. The COPY goes into an untriggered copy of
//! `staging_table`, which then stands in for the trigger's transition table `new_rows` in the
//! trigger's two statements (the dimensions, the facts), read from
//! `sql/db_transformation.sql` itself, so a change to the trigger shows up here without
//! touching this file. A plain table is not a transition table (it has statistics, it is read
//! through the buffer cache), so the split is indicative; the sum is close to a real load.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use loader::copy::{stream_into, CopySink};
use loader::ledger::{self, Claim, ObjectId};
use loader::{CopyFormat, EncodeOptions, Source};
use standins::LocalPostgres;

use crate::methods;

/// The schema holding the untriggered staging copy; first on the session's search_path, so
/// the loader's unqualified `COPY staging_table` lands there.
const STAND_IN_SCHEMA: &str = "breakdown";

/// One timed step.
#[derive(Clone, Debug)]
pub struct Step {
    pub name: String,
    pub secs: f64,
}

/// The trigger function's statements that write, in order, as (label, SQL with `new_rows`
/// replaced by `stand_in`): the dimensions' one WITH statement is labelled [`DIMENSIONS`],
/// a plain INSERT by its table.
///
/// # Errors
/// The function body or its INSERTs cannot be found.
pub fn trigger_statements(sql: &str, stand_in: &str) -> Result<Vec<(String, String)>> {
    let start = sql.find("$fn$").context("no $fn$ function body")? + 4;
    let len = sql[start..]
        .find("$fn$")
        .context("no end of the $fn$ body")?;
    let code: Vec<&str> = sql[start..start + len]
        .lines()
        .map(|line| line.find("--").map_or(line, |at| &line[..at]))
        .collect();
    let code = code.join("\n");
    let mut statements = Vec::new();
    // A statement kept in a constant (`name constant text := $insert$...$insert$`) runs
    // where the body EXECUTEs it, after the statements written out: it goes last.
    let mut held = Vec::new();
    for piece in code.split(';') {
        let (piece, kept) = match piece.split_once(":= $insert$") {
            Some((_, text)) => (text.trim_end().trim_end_matches("$insert$"), true),
            None => (piece, false),
        };
        // A statement may follow the block's BEGIN or an IF's THEN in the same piece.
        let statement = piece
            .lines()
            .skip_while(|line| {
                let line = line.trim();
                line.is_empty()
                    || line == "BEGIN"
                    || (line.starts_with("IF ") && line.ends_with("THEN"))
            })
            .collect::<Vec<_>>()
            .join("\n");
        let statement = statement.trim();
        let label = if statement.starts_with("WITH") && statement.contains("INSERT INTO") {
            DIMENSIONS.to_string()
        } else if let Some(rest) = statement.strip_prefix("INSERT INTO") {
            rest.split(|c: char| c.is_whitespace() || c == '(')
                .find(|t| !t.is_empty())
                .context("INSERT INTO without a table")?
                .trim_start_matches("@schema@.")
                .to_string()
        } else {
            continue;
        };
        // The body is installed with its schema spliced in, and the dimensions' statement
        // hands the batch's totals to a PL/pgSQL variable.
        let statement = statement
            .replace("@schema@", "public")
            .replace("INTO batch", "")
            .replace("new_rows", stand_in);
        if kept {
            held.push((label, statement));
        } else {
            statements.push((label, statement));
        }
    }
    statements.append(&mut held);
    if statements.is_empty() {
        bail!("no INSERT statements in the trigger function");
    }
    Ok(statements)
}

/// The label of the statement that writes all four dimensions.
pub const DIMENSIONS: &str = "dimensions";

/// One full load of `file`, step by step, into a fresh database.
///
/// # Errors
/// Any step fails, or the row count is not `rows`.
pub async fn run(pg: &LocalPostgres, file: &Path, rows: u64) -> Result<Vec<Step>> {
    let staging = format!("{STAND_IN_SCHEMA}.staging_table");
    let sql = loader::schema::TRANSFORMATION_SQL;
    let statements = trigger_statements(sql, &staging)?;
    let db = methods::fresh_db(pg, "e2e_breakdown").await?;
    let mut client = db.connect().await?;
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {STAND_IN_SCHEMA};
             CREATE TABLE {staging} (LIKE public.staging_table);
             SET search_path = {STAND_IN_SCHEMA}, public;"
        ))
        .await
        .context("creating the untriggered staging copy")?;
    methods::checkpoint(pg).await;

    let name = file.display().to_string();
    let mut steps = Vec::new();
    let mut clock = Instant::now();
    let lap = |steps: &mut Vec<Step>, clock: &mut Instant, name: &str| {
        steps.push(Step {
            name: name.to_string(),
            secs: clock.elapsed().as_secs_f64(),
        });
        *clock = Instant::now();
    };

    let tx = client.transaction().await?;
    let size = std::fs::metadata(file).map(|m| m.len()).ok();
    let work_mem = loader::load::work_mem_for("auto", size, false);
    tx.execute("SELECT set_config('work_mem', $1, true)", &[&work_mem])
        .await?;
    let mut id = ObjectId {
        bucket: "file".into(),
        key: name.clone(),
        etag: None,
        version_id: None,
    };
    let Claim::Claimed { load_id } = ledger::claim(&tx, &id, &name).await? else {
        bail!("the fresh database already had this load");
    };
    lap(&mut steps, &mut clock, "begin, work_mem, claim");

    let read = loader::ReadOptions::default();
    let opened = loader::source::open_local(&Source::File(file.to_path_buf()), None, &read).await?;
    let mut sink = CopySink::start(&tx, CopyFormat::Binary, true, &name).await?;
    let options = EncodeOptions {
        format: CopyFormat::Binary,
        load_id: Some(load_id),
        ..EncodeOptions::default()
    };
    let streamed = stream_into(&mut sink, opened, options, &name).await?;
    let copied = sink.finish().await?;
    if copied != rows {
        bail!("COPY inserted {copied} rows, expected {rows}");
    }
    lap(
        &mut steps,
        &mut clock,
        "COPY binary into untriggered staging",
    );
    // Statistics, as a transition table's plan effectively has (not timed).
    tx.batch_execute(&format!("ANALYZE {staging}")).await?;
    clock = Instant::now();

    for (label, sql) in &statements {
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("the trigger's {label}"))?;
        lap(&mut steps, &mut clock, &format!("trigger: {label}"));
    }

    id.etag = Some(format!("xxh3-{:032x}", streamed.content_hash));
    let etag = id.etag.as_deref().unwrap_or_default();
    if let Claim::AlreadyLoaded { .. } = ledger::identify(&tx, load_id, etag, &name).await? {
        bail!("the fresh database already had this content");
    }
    ledger::complete(
        &tx,
        load_id,
        streamed.summary.bytes,
        std::time::Duration::ZERO,
        &name,
    )
    .await?;
    lap(&mut steps, &mut clock, "ledger: identify, complete");

    tx.commit().await?;
    lap(&mut steps, &mut clock, "COMMIT");
    drop(client);
    db.cleanup().await?;
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_trigger_inserts() {
        let statements =
            trigger_statements(loader::schema::TRANSFORMATION_SQL, "s.t").expect("statements");
        let tables: Vec<&str> = statements.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(tables, [DIMENSIONS, "facts"]);
        for (_, sql) in &statements {
            assert!(
                !sql.contains("new_rows") && sql.contains("FROM s.t"),
                "{sql}"
            );
        }
    }
}
