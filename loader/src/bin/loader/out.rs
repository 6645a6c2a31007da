//! Standard output that a closed pipe cannot crash: `loader load ... | head -1`
//! goes on loading and exits with the loads' status instead of panicking in
//! `println!` once `head` has gone.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write failed: the reader is gone, later lines are dropped.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes one line to stdout; a closed pipe silences the rest.
pub fn line(text: &str) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// `println!` through [`line`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::out::line(&format!($($arg)*))
    };
}
pub(crate) use say;
