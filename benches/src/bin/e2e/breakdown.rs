//! Where the time of a full load goes: the loader's own steps run one at a time, each timed,
//! in one transaction as a load runs them. The COPY goes into an untriggered copy of
//! `staging_table`, which then stands in for the trigger's transition table `new_rows` in the
//! trigger's facts statement, read from `sql/db_transformation.sql` itself (so a change to the
//! trigger shows up here without touching this file); then the candidates the encoder
//! gathered go through their real trigger, which writes the dimensions, as a loader batch
//! runs them.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use loader::candidates::DEFAULT_BUDGET;
use loader::columns::CANDIDATES_TABLE;
use loader::copy::{stream_into, CopySink, FLUSH_BYTES};
use loader::ledger::{self, Claim, Completion, ObjectId};
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
    for piece in code.split(';') {
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
                .to_string()
        } else {
            continue;
        };
        statements.push((label, statement.replace("new_rows", stand_in)));
    }
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
    let facts = trigger_statements(sql, &staging)?
        .into_iter()
        .filter(|(label, _)| label != DIMENSIONS)
        .collect::<Vec<_>>();
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
    let load_id = ledger::next_load_id(&tx, &name).await?;
    lap(&mut steps, &mut clock, "begin, work_mem, load id");

    let read = loader::ReadOptions::default();
    let opened = loader::source::open_local(&Source::File(file.to_path_buf()), None, &read).await?;
    let mut sink = CopySink::start(&tx, CopyFormat::Binary, true, &name).await?;
    let options = EncodeOptions {
        format: CopyFormat::Binary,
        load_id: Some(load_id),
        ..EncodeOptions::default()
    };
    let streamed = stream_into(
        &mut sink,
        opened.reader,
        options,
        true,
        Some(DEFAULT_BUDGET),
        &name,
        false,
    )
    .await?;
    let copied = sink.finish().await?;
    if copied != rows {
        bail!("COPY inserted {copied} rows, expected {rows}");
    }
    lap(
        &mut steps,
        &mut clock,
        "COPY binary into untriggered staging, candidates gathered",
    );

    for (label, sql) in &facts {
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("the trigger's INSERT INTO {label}"))?;
        lap(&mut steps, &mut clock, &format!("trigger: {label}"));
    }

    let gathered = streamed
        .candidates
        .as_ref()
        .filter(|c| !c.given_up())
        .context("the candidates went over their budget")?;
    // The candidates go into the real, triggered table: its trigger runs the dimensions'
    // statement on its transition table, as in a load. (The same statement run on an
    // untriggered copy measured ~10x slower here, for reasons of the plan on a plain table
    // rather than of the statement.) Their split by dimension is in BENCHMARKS.md, from
    // auto_explain inside the trigger.
    tx.batch_execute("SET LOCAL search_path = public").await?;
    let mut sink =
        CopySink::start_into(&tx, CANDIDATES_TABLE, CopyFormat::Binary, true, &name).await?;
    for message in gathered.copy_data(FLUSH_BYTES) {
        sink.send(message).await?;
    }
    sink.finish().await?;
    lap(
        &mut steps,
        &mut clock,
        &format!(
            "COPY the dimension candidates ({} ids); trigger: the four dimensions",
            gathered.ids()
        ),
    );

    let hash = streamed.content_hash.unwrap_or_default();
    let id = ObjectId {
        bucket: "file".into(),
        key: name.clone(),
        etag: Some(format!("xxh3-{hash:032x}")),
        version_id: None,
    };
    if let Claim::AlreadyLoaded { .. } = ledger::claim(&tx, &id, Some(load_id), &name).await? {
        bail!("the fresh database already had this load");
    }
    let done = Completion {
        rows: rows as i64,
        facts_inserted: rows as i64,
        bytes: streamed.summary.bytes as i64,
        ..Completion::default()
    };
    ledger::complete(&tx, load_id, &done, &name).await?;
    lap(&mut steps, &mut clock, "ledger: claim, complete");

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
