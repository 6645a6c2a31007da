//! Finding PostgreSQL's programs: the server's (`initdb`, `pg_ctl`) and `psql`.
//!
//! Places searched, in order: `pg_config --bindir`, the newest `/usr/lib/postgresql/*/bin`
//! (Debian and Ubuntu install servers there, off `PATH`), then `PATH`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, Result};

/// How to get PostgreSQL's server programs, for error messages.
pub(crate) const INSTALL_SERVER_HINT: &str = "install PostgreSQL (Debian/Ubuntu: `apt-get install \
     postgresql`; macOS: `brew install postgresql`), or set DATABASE_URL to a server you can \
     create databases on";

/// The directory holding both `initdb` and `pg_ctl`, if PostgreSQL's server is installed.
pub(crate) fn server_bindir() -> Option<PathBuf> {
    candidate_dirs()
        .into_iter()
        .find(|dir| is_executable(&dir.join("initdb")) && is_executable(&dir.join("pg_ctl")))
}

/// Finds `psql`.
///
/// # Errors
///
/// `psql` is nowhere to be found; the message says how to install it.
pub fn find_psql() -> Result<PathBuf> {
    candidate_dirs()
        .into_iter()
        .map(|dir| dir.join("psql"))
        .find(|path| is_executable(path))
        .ok_or_else(|| {
            anyhow!(
                "psql not found (searched `pg_config --bindir`, /usr/lib/postgresql/*/bin and \
                 PATH): install the PostgreSQL client (Debian/Ubuntu: `apt-get install \
                 postgresql-client`; macOS: `brew install libpq`) or put psql on PATH"
            )
        })
}

/// A `psql` command for the database at `url` that ignores `~/.psqlrc` and stops at the first
/// error (`-v ON_ERROR_STOP=1`), so its exit status reports failures; add `-f FILE` and run it.
///
/// # Errors
///
/// `psql` cannot be found; see [`find_psql`].
pub fn psql_command(url: &str) -> Result<Command> {
    let mut command = Command::new(find_psql()?);
    command
        .arg("--no-psqlrc")
        .args(["-v", "ON_ERROR_STOP=1"])
        .arg("--dbname")
        .arg(url);
    Ok(command)
}

fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = pg_config_bindir() {
        dirs.push(dir);
    }
    dirs.extend(debian_bindirs());
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs
}

fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = String::from_utf8(output.stdout).ok()?;
    let dir = dir.trim();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// `/usr/lib/postgresql/<major>/bin`, newest major version first.
fn debian_bindirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") else {
        return Vec::new();
    };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// Finds `name` on `PATH` or in the system directories root's `PATH` usually adds.
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
