//! hakmem-cdylib — the facade that builds `libhakmem.so` / `libhakmem.a`.
//!
//! Exports the standard allocation symbols (`malloc`, `free`, `calloc`,
//! `realloc`, `reallocarray`, `posix_memalign`, `aligned_alloc`, `memalign`,
//! `valloc`, `pvalloc`, `malloc_usable_size`, `cfree`, `free_sized`,
//! `free_aligned_sized`), defined by `hak_ffi::plain_exports!` from the same
//! list as the `hak_*` functions (exported too, with `hak_init`,
//! `hak_print_stats`, `hak_thread_flush`, `hak_owns`, `hak_version`); every
//! one is a call of the `hak_ffi::abi` function of the same name.
//!
//! A constructor in `.init_array` calls `hak_ffi::init()` when the library is
//! loaded (`LD_PRELOAD` or linked), before `main`.
#![no_std]
#![warn(missing_docs)]

hak_ffi::plain_exports!();

// Link libc explicitly: the `libc` crate emits no link directives when its
// `std` feature is on (it expects std to link libc), and this crate is
// `no_std`, so without this the .so would have no DT_NEEDED on libc.so.6 and
// unversioned references to `dlsym`, `sbrk`, ...
#[link(name = "c")]
extern "C" {}

/// Library constructor: initialise hakmem when the library is loaded.
extern "C" fn hakmem_constructor() {
    hak_ffi::init();
}

/// Registers [`hakmem_constructor`] with the dynamic loader (and with the C
/// runtime when linked statically from `libhakmem.a`).
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = hakmem_constructor;

// The precompiled `core` is built with panic=unwind: some of its functions
// (e.g. `core::panicking::panic_nounwind_fmt`, reached in dev builds from the
// UB precondition checks of `copy_nonoverlapping` & co.) carry unwind tables
// naming the personality routine `rust_eh_personality`, which only std
// defines, so a dev-profile libhakmem.so would fail to load with "undefined
// symbol: rust_eh_personality". With panic=abort nothing ever unwinds and the
// routine is never called: define it here, hidden (not exported), aborting.
#[cfg(all(not(test), target_arch = "x86_64"))]
core::arch::global_asm!(
    ".pushsection .text.rust_eh_personality,\"ax\",@progbits",
    ".globl rust_eh_personality",
    ".hidden rust_eh_personality",
    ".type rust_eh_personality,@function",
    "rust_eh_personality:",
    "jmp {abort}",
    ".size rust_eh_personality, . - rust_eh_personality",
    ".popsection",
    abort = sym hak_os::process::c_abort,
);
#[cfg(all(not(test), target_arch = "aarch64"))]
core::arch::global_asm!(
    ".pushsection .text.rust_eh_personality,\"ax\",%progbits",
    ".globl rust_eh_personality",
    ".hidden rust_eh_personality",
    ".type rust_eh_personality,%function",
    "rust_eh_personality:",
    "b {abort}",
    ".size rust_eh_personality, . - rust_eh_personality",
    ".popsection",
    abort = sym hak_os::process::c_abort,
);

/// Panics cannot unwind (panic = abort) and must not allocate or print:
/// abort at once.
#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    hak_os::process::abort()
}
