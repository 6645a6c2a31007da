//! Who runs PostgreSQL's server programs: this process's user, or, when this process is root
//! (which `initdb`, `pg_ctl` and `postgres` refuse), the `postgres` OS user through
//! `runuser -u postgres --` or, failing that, `su postgres`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::binaries::find_program;

/// The OS user that runs the server when this process is root.
pub(crate) const OS_USER: &str = "postgres";

/// Who runs the server programs.
#[derive(Debug)]
pub(crate) enum RunAs {
    /// This process's user (not root).
    CurrentUser,
    /// The `postgres` OS user, switched to with `runuser` or `su`.
    OsUser { switch: Switch, uid: u32, gid: u32 },
}

#[derive(Debug)]
pub(crate) enum Switch {
    Runuser(PathBuf),
    Su(PathBuf),
}

impl RunAs {
    pub(crate) fn detect() -> Result<Self> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            return Ok(Self::CurrentUser);
        }
        let uid = os_user_id("-u").with_context(|| {
            format!(
                "running as root, which PostgreSQL refuses, and there is no `{OS_USER}` OS user to \
                 run it as (installing PostgreSQL creates one)"
            )
        })?;
        let gid = os_user_id("-g")?;
        let switch = if let Some(runuser) = find_program("runuser") {
            Switch::Runuser(runuser)
        } else if let Some(su) = find_program("su") {
            Switch::Su(su)
        } else {
            bail!(
                "running as root, and neither runuser nor su is available to switch to {OS_USER}"
            );
        };
        Ok(Self::OsUser { switch, uid, gid })
    }

    /// A command that runs `program` as this user; add its arguments.
    pub(crate) fn command(&self, program: &Path) -> Command {
        let mut command = match self {
            Self::CurrentUser => Command::new(program),
            Self::OsUser {
                switch: Switch::Runuser(runuser),
                ..
            } => {
                let mut command = Command::new(runuser);
                command.args(["-u", OS_USER, "--"]).arg(program);
                command
            }
            Self::OsUser {
                switch: Switch::Su(su),
                ..
            } => {
                // su hands the arguments after the user name to the shell: $0 is the program.
                let mut command = Command::new(su);
                command
                    .args(["-s", "/bin/sh", OS_USER, "-c", r#"exec "$0" "$@""#])
                    .arg(program);
                command
            }
        };
        command.stdin(Stdio::null());
        command
    }
}

fn os_user_id(flag: &str) -> Result<u32> {
    let output = Command::new("id")
        .arg(flag)
        .arg(OS_USER)
        .stdin(Stdio::null())
        .output()
        .context("cannot run `id`")?;
    if !output.status.success() {
        bail!("no OS user {OS_USER}");
    }
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .with_context(|| format!("unexpected output from `id {flag} {OS_USER}`"))
}
