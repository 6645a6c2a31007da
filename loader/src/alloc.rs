//! Settings for mimalloc, the binaries' global allocator.
//!
//! By default mimalloc commits its arenas eagerly and, on purge, only
//! resets freed pages (`MADV_FREE`), which the kernel keeps counting as the
//! process's resident memory until it needs them. With buffers allocated on
//! one thread and freed on another (the encoder task and the COPY task) that
//! made a 200k-row load show ~85 MB peak RSS instead of ~20 MB: memory that
//! was free, but looked used to anyone watching the Lambda's memory. Lazy
//! commit makes purges decommit, so RSS is what is actually in use.

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
}
