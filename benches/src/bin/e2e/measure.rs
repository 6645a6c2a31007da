//! Runs a child process to its end and measures it: wall time, and the peak resident set
//! size the kernel recorded for it, so a loader's memory is measured from outside, with
//! nothing added to it.
//!
//! The peak is the child's `VmHWM` (`/proc/PID/status`), read every 10 ms while it runs: a
//! high-water mark, so the last reading is the peak unless it came in the last 10 ms. Not
//! `wait4`'s `ru_maxrss` alone: Linux carries the high-water mark of the image a child had
//! before `exec` (a copy of this process, which holds data sets in memory) into it, so a child
//! of a big parent reports the parent's size. `ru_maxrss` is the fallback when `/proc` gives
//! nothing. (`/usr/bin/time` is not affected: it is small when it forks.)

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// What a finished child did.
#[derive(Debug)]
pub struct Finished {
    /// Wall time from spawn to exit.
    pub secs: f64,
    /// Peak resident set size in KiB.
    pub max_rss_kib: u64,
    /// Everything it printed on stdout.
    pub stdout: String,
}

/// Runs `cmd` with stdin closed and waits for it.
///
/// # Errors
/// The program cannot be started, or it exits unsuccessfully (the error carries its stderr).
pub fn run(cmd: &mut Command) -> Result<Finished> {
    let shown = format!("{:?}", cmd.get_program());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {shown}"))?;
    let pid = libc::pid_t::try_from(child.id()).context("pid out of range")?;
    let mut stdout_pipe = child.stdout.take().context("stdout is piped")?;
    let mut stderr_pipe = child.stderr.take().context("stderr is piped")?;
    // Both pipes are drained at once, so a chatty child never blocks on a full pipe.
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let running = running.clone();
        std::thread::spawn(move || {
            let path = format!("/proc/{pid}/status");
            let mut peak = 0;
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(kib) = std::fs::read_to_string(&path).ok().and_then(|s| vm_hwm(&s)) {
                    peak = peak.max(kib);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            peak
        })
    };
    let mut stdout = String::new();
    let _ = stdout_pipe.read_to_string(&mut stdout);
    let (status, exit_rss_kib) = wait4(pid)?;
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let polled = watcher.join().unwrap_or(0);
    let max_rss_kib = if polled > 0 { polled } else { exit_rss_kib };
    let secs = started.elapsed().as_secs_f64();
    let stderr = stderr_reader.join().unwrap_or_default();
    if status != 0 {
        bail!(
            "{shown} failed ({status}):\n{}{}",
            tail(&stdout, 2000),
            tail(&stderr, 4000)
        );
    }
    Ok(Finished {
        secs,
        max_rss_kib,
        stdout,
    })
}

/// `VmHWM` in KiB from the text of `/proc/PID/status`.
fn vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line["VmHWM:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Reaps `pid`; returns its exit code (128 + signal when killed) and peak RSS in KiB.
fn wait4(pid: libc::pid_t) -> Result<(i32, u64)> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own unreaped child; status and usage are valid for writes.
        let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if got == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4");
        }
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    // Linux reports ru_maxrss in KiB.
    Ok((code, u64::try_from(usage.ru_maxrss).unwrap_or(0)))
}

/// The last `max` bytes of `text`, on a character boundary.
fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_child() {
        let done = run(Command::new("sh").args(["-c", "echo hi"])).expect("sh runs");
        assert_eq!(done.stdout, "hi\n");
        assert!(done.max_rss_kib > 0);
        assert!(done.secs > 0.0);
    }

    #[test]
    fn reads_vm_hwm() {
        let status = "Name:\tloader\nVmPeak:\t  99 kB\nVmHWM:\t   40204 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(vm_hwm(status), Some(40204));
        assert_eq!(vm_hwm("Name:\tzombie\n"), None);
    }

    #[test]
    fn a_child_that_allocates_shows_it() {
        // python3 holding 64 MiB for a moment: the peak must show it, whatever this test
        // process's own size.
        let done = run(Command::new("python3").args([
            "-c",
            "import time; b = bytearray(64 << 20); time.sleep(0.3); print(len(b))",
        ]))
        .expect("python3 runs");
        assert!(done.max_rss_kib > 64 * 1024, "{}", done.max_rss_kib);
    }

    #[test]
    fn a_failure_carries_stderr() {
        let err = run(Command::new("sh").args(["-c", "echo oops >&2; exit 3"]))
            .expect_err("exit 3 fails");
        let text = format!("{err:#}");
        assert!(text.contains("(3)") && text.contains("oops"), "{text}");
    }
}
