//! `work_mem` of a load's transaction: checked when given, sized from the
//! object when `auto`.

use crate::error::{Error, Result};

/// `work_mem` when none is given and the object's size is unknown (stdin).
const WORK_MEM_UNKNOWN_KB: u64 = 256 * 1024;
/// Bounds of `auto`: PostgreSQL's memory per load stays under the upper one.
const WORK_MEM_MIN_KB: u64 = 64 * 1024;
const WORK_MEM_MAX_KB: u64 = 1024 * 1024;
/// How much bigger than the CSV the transition table's tuple store grows in
/// the server's memory (1M rows: 148 MB of CSV, ~300 MB in memory).
const WORK_MEM_PER_CSV_BYTE: u64 = 3;
/// How much a gzip'd retail CSV shrinks (generator output: ~6x).
const GZIP_RATIO: u64 = 6;

/// Checks a `work_mem` setting before any load: `auto`, or a PostgreSQL
/// memory size (a whole number, optionally `B`, `kB`, `MB`, `GB` or `TB`;
/// none means kB) of at least PostgreSQL's minimum, 64kB. Returns it.
///
/// # Errors
/// [`Error::Config`] naming `setting` and what it may be.
pub fn checked_work_mem(value: &str, setting: &str) -> Result<String> {
    if value.eq_ignore_ascii_case("auto") {
        return Ok(value.to_string());
    }
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &value[digits.len()..];
    let kb = digits.trim().parse::<u64>().ok().and_then(|n| match unit {
        "B" => Some(n / 1024),
        "" | "kB" => Some(n),
        "MB" => n.checked_mul(1 << 10),
        "GB" => n.checked_mul(1 << 20),
        "TB" => n.checked_mul(1 << 30),
        _ => None,
    });
    match kb {
        Some(kb) if (64..=i32::MAX as u64).contains(&kb) => Ok(value.to_string()),
        _ => Err(Error::Config(format!(
            "{setting} {value:?} is not auto or a PostgreSQL size from 64kB to 2TB (e.g. 256MB)"
        ))),
    }
}

/// The `work_mem` one load runs with. `auto` sizes it so the trigger's
/// transition table stays in memory: spilled to a temporary file, each of
/// the trigger's passes over it reads the file again (1M rows: ~1 s of a
/// 8 s load, BENCHMARKS.md). It is a limit, not an allocation: the server
/// uses what the batch needs, at most 1 GB per load.
pub fn work_mem_for(setting: &str, size: Option<u64>, compressed: bool) -> String {
    if !setting.eq_ignore_ascii_case("auto") {
        return setting.to_string();
    }
    let kb = match size {
        None => WORK_MEM_UNKNOWN_KB,
        Some(bytes) => {
            let csv = if compressed {
                bytes.saturating_mul(GZIP_RATIO)
            } else {
                bytes
            };
            (csv.saturating_mul(WORK_MEM_PER_CSV_BYTE) / 1024)
                .clamp(WORK_MEM_MIN_KB, WORK_MEM_MAX_KB)
        }
    };
    format!("{kb}kB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_mem_is_auto_or_a_size_postgresql_takes() {
        for ok in [
            "auto", "AUTO", "64kB", "64", "256MB", "1GB", "65536B", "1TB",
        ] {
            let checked = checked_work_mem(ok, "--work-mem").ok();
            assert_eq!(checked.as_deref(), Some(ok), "{ok}");
        }
        for bad in [
            "1kB", "63kB", "", "MB", "256mb", "1.5GB", "-1MB", "4TB", "lots",
        ] {
            let err = checked_work_mem(bad, "--work-mem").expect_err(bad);
            assert!(err.to_string().contains("--work-mem"), "{err}");
        }
    }

    #[test]
    fn auto_work_mem_follows_the_object_size_within_bounds() {
        // A given size passes through untouched.
        assert_eq!(work_mem_for("512MB", Some(10), false), "512MB");
        // 148 MB of CSV (1M rows): 3x, in kB.
        assert_eq!(work_mem_for("auto", Some(148_000_000), false), "433593kB");
        // gzip: the CSV is ~6x the object.
        assert_eq!(work_mem_for("AUTO", Some(20_000_000), true), "351562kB");
        // Small objects get the floor, huge ones the ceiling, stdin the default.
        assert_eq!(work_mem_for("auto", Some(1000), false), "65536kB");
        assert_eq!(work_mem_for("auto", Some(u64::MAX), true), "1048576kB");
        assert_eq!(work_mem_for("auto", None, false), "262144kB");
    }
}
