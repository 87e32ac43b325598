//! hakmem-cdylib — the facade that builds `libhakmem.so` / `libhakmem.a`.
//!
//! Exports the standard allocation symbols (`malloc`, `free`, `calloc`,
//! `realloc`, `reallocarray`, `posix_memalign`, `aligned_alloc`, `memalign`,
//! `valloc`, `pvalloc`, `malloc_usable_size`, `cfree`, `free_sized`,
//! `free_aligned_sized`) as thin wrappers over `hak_ffi::abi` (the bodies of
//! the `hak_*` functions, which are exported too, with `hak_init`,
//! `hak_print_stats`, `hak_thread_flush`, `hak_owns`, `hak_version`).
//!
//! A constructor in `.init_array` calls `hak_ffi::init()` when the library is
//! loaded (`LD_PRELOAD` or linked), before `main`.
#![no_std]
#![warn(missing_docs)]

use hak_ffi::abi;
use libc::{c_int, c_void};

/// `malloc(3)`: see `hak_ffi::abi::malloc`.
///
/// # Safety
/// Always safe to call; `unsafe` only because it is the C allocator entry.
#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    abi::malloc(size)
}

/// `free(3)`: see `hak_ffi::abi::free`.
///
/// # Safety
/// `p` must be null or a live block from this allocator (or glibc's).
#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: forwarded contract.
    unsafe { abi::free(p) }
}

/// `calloc(3)`: see `hak_ffi::abi::calloc`.
///
/// # Safety
/// Always safe to call.
#[no_mangle]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    abi::calloc(n, size)
}

/// `realloc(3)`: see `hak_ffi::abi::realloc`.
///
/// # Safety
/// `p` must be null or a live block from this allocator (or glibc's).
#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { abi::realloc(p, size) }
}

/// `reallocarray(3)`: see `hak_ffi::abi::reallocarray`.
///
/// # Safety
/// `p` must be null or a live block from this allocator (or glibc's).
#[no_mangle]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { abi::reallocarray(p, n, size) }
}

/// `posix_memalign(3)`: see `hak_ffi::abi::posix_memalign`.
///
/// # Safety
/// `memptr` must be valid for a pointer-sized write.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(memptr: *mut *mut c_void, align: usize, size: usize) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { abi::posix_memalign(memptr, align, size) }
}

/// `aligned_alloc(3)`: see `hak_ffi::abi::aligned_alloc`.
///
/// # Safety
/// Always safe to call.
#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    abi::aligned_alloc(align, size)
}

/// `memalign(3)`: see `hak_ffi::abi::memalign`.
///
/// # Safety
/// Always safe to call.
#[no_mangle]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    abi::memalign(align, size)
}

/// `valloc(3)`: see `hak_ffi::abi::valloc`.
///
/// # Safety
/// Always safe to call.
#[no_mangle]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    abi::valloc(size)
}

/// `pvalloc(3)`: see `hak_ffi::abi::pvalloc`.
///
/// # Safety
/// Always safe to call.
#[no_mangle]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    abi::pvalloc(size)
}

/// `malloc_usable_size(3)`: see `hak_ffi::abi::malloc_usable_size`.
///
/// # Safety
/// `p` must be null or a live block from this allocator (or glibc's).
#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    // SAFETY: forwarded contract.
    unsafe { abi::malloc_usable_size(p) }
}

/// `cfree`: obsolete synonym of `free`.
///
/// # Safety
/// As [`free`].
#[no_mangle]
pub unsafe extern "C" fn cfree(p: *mut c_void) {
    // SAFETY: forwarded contract.
    unsafe { abi::free(p) }
}

/// `free_sized` (C23): `free`, size hint ignored.
///
/// # Safety
/// As [`free`].
#[no_mangle]
pub unsafe extern "C" fn free_sized(p: *mut c_void, _size: usize) {
    // SAFETY: forwarded contract.
    unsafe { abi::free(p) }
}

/// `free_aligned_sized` (C23): `free`, hints ignored.
///
/// # Safety
/// As [`free`].
#[no_mangle]
pub unsafe extern "C" fn free_aligned_sized(p: *mut c_void, _align: usize, _size: usize) {
    // SAFETY: forwarded contract.
    unsafe { abi::free(p) }
}

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
    abort = sym libc::abort,
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
    abort = sym libc::abort,
);

/// Panics cannot unwind (panic = abort) and must not allocate or print:
/// abort at once.
#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: `abort` has no preconditions and never returns.
    unsafe { libc::abort() }
}
