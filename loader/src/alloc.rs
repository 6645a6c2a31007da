//! Settings for mimalloc, the binaries' global allocator.
//!
//! By default mimalloc commits its arenas eagerly and, on purge, only
//! resets freed pages (`MADV_FREE`), which the kernel keeps counting as the
//! process's resident memory until it needs them. With buffers allocated on
//! one thread and freed on another (the encoder task and the COPY task) that
//! made a 200k-row load show ~85 MB peak RSS instead of ~20 MB: memory that
//! was free, but looked used to anyone watching the Lambda's memory. Lazy
//! commit makes purges decommit, so RSS is what is actually in use.
//!
//! mimalloc also asks for transparent huge pages on its arenas (where the
//! kernel's THP mode is `madvise`, as here and on many distributions), so
//! touching one byte of a 2 MiB region makes all of it resident. Measured on
//! a 1M-row load: peak RSS from the local S3 endpoint 60.1 MiB with them,
//! 31.3 MiB without; from a file 35.9 MiB and 21.2 MiB; same times
//! (BENCHMARKS.md). They are turned off for
//! the process with `prctl(PR_SET_THP_DISABLE)`, what mimalloc itself does
//! for `MIMALLOC_ALLOW_THP=0`.
//!
//! Both must happen before the first allocation, which is before `main`:
//! Rust's runtime allocates while it starts, and mimalloc initializes in an
//! ELF constructor of priority 101. Called from `main`, the process's first
//! arena was already faulted in as two 2 MiB huge pages: 4 MiB of a tiny
//! load's 17 MiB peak RSS (`/proc/PID/smaps`, AnonHugePages 4096 kB).
//! [`tune_mimalloc_before_main!`] registers the call as a constructor of
//! priority 100, which the linker orders ahead of mimalloc's.

// mimalloc v3's `mi_option_e`: 4 = arena_eager_commit.
const MI_OPTION_ARENA_EAGER_COMMIT: i32 = 4;

extern "C" {
    fn mi_option_set(option: i32, value: std::ffi::c_long);
}

/// Runs [`tune_mimalloc`] before `main` and before mimalloc initializes
/// (see the module's text). Put it once in each binary that uses mimalloc
/// as its global allocator. On targets other than Linux it does nothing
/// (mimalloc's defaults).
#[macro_export]
macro_rules! tune_mimalloc_before_main {
    () => {
        #[cfg(target_os = "linux")]
        #[used]
        #[link_section = ".init_array.00100"]
        static TUNE_MIMALLOC_BEFORE_MAIN: extern "C" fn() = {
            extern "C" fn tune() {
                $crate::alloc::tune_mimalloc();
            }
            tune
        };
    };
}

/// The settings above; [`tune_mimalloc_before_main!`] calls it before the
/// allocator reserves its arenas. It must not allocate.
pub fn tune_mimalloc() {
    // SAFETY: sets an integer option of the statically linked mimalloc; valid
    // at any time, it only affects arenas created afterwards.
    unsafe { mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
    #[cfg(target_os = "linux")]
    no_transparent_huge_pages();
}

/// Linux's `PR_SET_THP_DISABLE`: no transparent huge pages for this process
/// from now on. Best effort: a kernel that refuses only costs memory.
#[cfg(target_os = "linux")]
fn no_transparent_huge_pages() {
    const PR_SET_THP_DISABLE: std::ffi::c_int = 41;
    extern "C" {
        fn prctl(option: std::ffi::c_int, ...) -> std::ffi::c_int;
    }
    // SAFETY: glibc's and musl's prctl; this option takes one integer
    // argument (the rest are passed as 0, as the man page asks) and only
    // sets a flag on the calling process.
    let zero: std::ffi::c_ulong = 0;
    unsafe { prctl(PR_SET_THP_DISABLE, 1 as std::ffi::c_ulong, zero, zero, zero) };
}
