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
//! for `MIMALLOC_ALLOW_THP=0` (its option is read once, before `main`).

// mimalloc v3's `mi_option_e`: 4 = arena_eager_commit.
const MI_OPTION_ARENA_EAGER_COMMIT: i32 = 4;

extern "C" {
    fn mi_option_set(option: i32, value: std::ffi::c_long);
}

/// Call first thing in `main`, before the allocator reserves its arenas.
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
