//! A throwaway PostgreSQL cluster: `initdb` into a temporary directory, `pg_ctl start` on a free
//! port of 127.0.0.1 with its socket in that directory; `pg_ctl stop -m fast` and removal of the
//! directory on drop.
//!
//! PostgreSQL refuses to run as root. When this process is root, every server program runs as
//! the `postgres` OS user (through `runuser -u postgres --`, else `su postgres`), and the
//! temporary directory is handed to that user first.
//!
//! Cleanup must also happen when `Drop` never runs: a cluster kept in a `static` (never
//! dropped), a panic that aborts, a killed test binary. So each cluster has a watchdog, a small
//! `sh` in its own process group that blocks reading a pipe from this process. When this
//! process ends in any way, the pipe closes, and the watchdog stops the server (SIGINT: fast
//! shutdown) and removes the directory. After a normal drop it finds nothing left to do.

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use tempfile::TempDir;

use super::binaries::{server_bindir, INSTALL_SERVER_HINT};
use super::run_as::{RunAs, OS_USER};

/// The superuser `initdb` creates; trust authentication, so no password.
pub(crate) const SUPERUSER: &str = "postgres";
/// Attempts at finding a free port: another process may take the one chosen before the server
/// binds it.
const PORT_ATTEMPTS: usize = 3;
/// Stops the server and removes the directory once this process is gone; see the module docs.
/// `$1` is the data directory, `$2` the directory to remove.
const WATCHDOG_SCRIPT: &str = r#"cat >/dev/null 2>&1
if [ -f "$1/postmaster.pid" ]; then
  pid=$(head -n 1 "$1/postmaster.pid")
  kill -INT "$pid" 2>/dev/null
  i=0
  while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i+1)); done
fi
rm -rf -- "$2""#;

/// A running throwaway cluster; dropping it stops the server and removes its files.
#[derive(Debug)]
pub(crate) struct ThrowawayCluster {
    bindir: PathBuf,
    data: PathBuf,
    port: u16,
    run_as: RunAs,
    dir: Option<TempDir>,
    watchdog: Option<Child>,
    /// Extra `-c name=value` server settings.
    settings: Vec<(String, String)>,
}

impl ThrowawayCluster {
    /// Creates and starts a cluster.
    ///
    /// # Errors
    ///
    /// The server programs are missing (the message says how to install them), or `initdb` or
    /// `pg_ctl start` fails (the message carries their output or the server log).
    pub(crate) fn start() -> Result<Self> {
        Self::start_with_tls(None)
    }

    /// Creates and starts a cluster that also accepts TLS with the given
    /// certificate and key (PEM files; copied into the cluster's directory,
    /// readable only by the server's user).
    ///
    /// # Errors
    ///
    /// As [`ThrowawayCluster::start`], or the files cannot be copied.
    pub(crate) fn start_with_tls(tls: Option<(&Path, &Path)>) -> Result<Self> {
        let bindir = server_bindir().ok_or_else(|| {
            anyhow!("PostgreSQL server programs (initdb, pg_ctl) not found: {INSTALL_SERVER_HINT}")
        })?;
        let run_as = RunAs::detect()?;
        let dir = tempfile::Builder::new()
            .prefix("standins-pg-")
            .tempdir()
            .context("cannot create a temporary directory for the cluster")?;
        if dir.path().to_string_lossy().contains(['\'', '"', '\\']) {
            bail!(
                "temporary directory {} has a quote in its path",
                dir.path().display()
            );
        }
        let data = dir.path().join("data");
        let mut cluster = Self {
            bindir,
            data,
            port: 0,
            run_as,
            dir: None,
            watchdog: None,
            settings: Vec::new(),
        };
        cluster.watchdog = Some(spawn_watchdog(&cluster.data, dir.path())?);
        cluster.dir = Some(dir);
        if let RunAs::OsUser { uid, gid, .. } = &cluster.run_as {
            std::os::unix::fs::chown(cluster.dir(), Some(*uid), Some(*gid)).with_context(|| {
                format!("cannot hand {} to user {OS_USER}", cluster.dir().display())
            })?;
        }
        cluster.initdb()?;
        if let Some((cert, key)) = tls {
            cluster.install_tls(cert, key)?;
        }
        cluster.start_server()?;
        Ok(cluster)
    }

    /// The port the server listens on (127.0.0.1 only).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the data directory, the server log and the socket.
    pub(crate) fn dir(&self) -> &Path {
        self.data.parent().unwrap_or(&self.data)
    }

    /// Where the server programs came from.
    pub(crate) fn bindir(&self) -> &Path {
        &self.bindir
    }

    fn log_path(&self) -> PathBuf {
        self.dir().join("postgres.log")
    }

    fn initdb(&self) -> Result<()> {
        let mut command = self.run_as.command(&self.bindir.join("initdb"));
        command
            .arg("-D")
            .arg(&self.data)
            .args([
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .current_dir(self.dir());
        run(command, "initdb")
    }

    fn install_tls(&mut self, cert: &Path, key: &Path) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        for (from, name) in [(cert, "server.crt"), (key, "server.key")] {
            let to = self.data.join(name);
            std::fs::copy(from, &to)
                .with_context(|| format!("cannot copy {} into the cluster", from.display()))?;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))?;
            if let RunAs::OsUser { uid, gid, .. } = &self.run_as {
                std::os::unix::fs::chown(&to, Some(*uid), Some(*gid))?;
            }
        }
        self.settings.push(("ssl".into(), "on".into()));
        Ok(())
    }

    fn start_server(&mut self) -> Result<()> {
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let mut options = format!(
                "-p {port} -k '{}' -c listen_addresses=127.0.0.1 -c fsync=off",
                self.dir().display()
            );
            for (name, value) in &self.settings {
                options.push_str(&format!(" -c {name}={value}"));
            }
            let mut command = self.run_as.command(&self.bindir.join("pg_ctl"));
            command
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(&self.data)
                .arg("-l")
                .arg(self.log_path())
                .arg("-o")
                .arg(options)
                .current_dir(self.dir());
            match run(command, "pg_ctl start") {
                Ok(()) => {
                    self.port = port;
                    return Ok(());
                }
                Err(err) => {
                    let log = read_log(&self.log_path());
                    let port_taken =
                        log.contains("could not bind") || log.contains("already in use");
                    last_error = Some(err.context(format!("server log:\n{log}")));
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("pg_ctl start was never tried")))
    }

    /// Restarts the server on the same port (`pg_ctl restart -m fast`): every
    /// connection is cut, as in a crash-restart or a failover.
    ///
    /// # Errors
    ///
    /// `pg_ctl restart` fails (the message carries the server log).
    pub(crate) fn restart(&self) -> Result<()> {
        let mut command = self.run_as.command(&self.bindir.join("pg_ctl"));
        command
            .args(["restart", "-m", "fast", "-w", "-t", "60", "-D"])
            .arg(&self.data)
            .arg("-l")
            .arg(self.log_path())
            .current_dir(self.dir());
        run(command, "pg_ctl restart")
            .map_err(|err| err.context(format!("server log:\n{}", read_log(&self.log_path()))))
    }

    fn stop_server(&self) -> Result<()> {
        let mut command = self.run_as.command(&self.bindir.join("pg_ctl"));
        command
            .args(["stop", "-m", "fast", "-w", "-t", "30", "-D"])
            .arg(&self.data)
            .current_dir(self.dir());
        run(command, "pg_ctl stop")
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        // Also after a failed start: `pg_ctl start -w` may time out with the server still up.
        if self.data.join("postmaster.pid").exists() {
            if let Err(err) = self.stop_server() {
                tracing::warn!(error = %format!("{err:#}"), "cannot stop the throwaway cluster");
            }
        }
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            if let Err(err) = dir.close() {
                tracing::warn!(%err, dir = %path.display(), "cannot remove the throwaway cluster");
            }
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            // Closing its stdin releases the watchdog; by now it has nothing left to clean.
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
    }
}

/// Runs `command` to completion; on failure the error carries its output.
fn run(mut command: Command, what: &str) -> Result<()> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {what} ({:?})", command.get_program()))?;
    if output.status.success() {
        return Ok(());
    }
    bail!(
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn spawn_watchdog(data: &Path, dir: &Path) -> Result<Child> {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(WATCHDOG_SCRIPT)
        .arg("standins-pg-watchdog")
        .arg(data)
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so a Ctrl-C meant for this process does not end it first.
        .process_group(0)
        .spawn()
        .context("cannot start the cluster's cleanup watchdog")
}

fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The last part of the server log, for error messages.
fn read_log(path: &Path) -> String {
    const TAIL: usize = 4000;
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    if text.len() > TAIL {
        let mut start = text.len() - TAIL;
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text.drain(..start);
    }
    text
}
