//! The calling thread's context pointer, in one `%fs`-relative load.
//!
//! Rust's `thread_local!` needs `std` and, in a shared library, compiles to
//! the general-dynamic TLS model: a call to `__tls_get_addr` per access
//! (4.25 ns per call per DESIGN.md §4, a quarter of a malloc+free budget). The initial-exec
//! model (one load at a thread-pointer offset taken from the GOT) is what a C
//! allocator would use, but `#[thread_local]`/`-Z tls-model` are nightly-only.
//! So the slot is declared in assembly: an 8-byte `.tbss` symbol accessed with
//! a `@GOTTPOFF` relocation. In an executable the linker relaxes it to a
//! constant offset; in `libhakmem.so` it marks the library `STATIC_TLS`, which
//! is exactly the situation of `LD_PRELOAD` or a link-time dependency (glibc
//! also accepts a later `dlopen` while its static-TLS surplus lasts).
//!
//! Zero-initialised per thread by the C runtime: a new thread starts with a
//! null context and takes the slow path once.

use crate::ThreadCtx;

#[cfg(not(target_arch = "x86_64"))]
compile_error!("hakmem's TLS slot is implemented for x86-64 only");

core::arch::global_asm!(
    ".section .tbss,\"awT\",@nobits",
    ".p2align 3",
    ".globl __hakmem_tls_ctx",
    ".hidden __hakmem_tls_ctx",
    ".type __hakmem_tls_ctx, @object",
    ".size __hakmem_tls_ctx, 8",
    "__hakmem_tls_ctx:",
    ".zero 8",
    ".text",
);

/// The calling thread's context, or null when it has none yet.
#[inline(always)]
pub fn ctx() -> *mut ThreadCtx {
    let v: *mut ThreadCtx;
    // SAFETY: reads this thread's own 8-byte TLS slot declared above.
    unsafe {
        core::arch::asm!(
            "mov {v}, qword ptr [rip + __hakmem_tls_ctx@GOTTPOFF]",
            "mov {v}, qword ptr fs:[{v}]",
            v = out(reg) v,
            options(nostack, readonly, preserves_flags, pure),
        );
    }
    v
}

/// Sets the calling thread's context.
pub fn set_ctx(p: *mut ThreadCtx) {
    // SAFETY: writes this thread's own 8-byte TLS slot declared above.
    unsafe {
        core::arch::asm!(
            "mov {t}, qword ptr [rip + __hakmem_tls_ctx@GOTTPOFF]",
            "mov qword ptr fs:[{t}], {p}",
            t = out(reg) _,
            p = in(reg) p,
            options(nostack, preserves_flags),
        );
    }
}
