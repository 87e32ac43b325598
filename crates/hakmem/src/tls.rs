//! The calling thread's TLS block: its context pointer (one `%fs`-relative
//! load) and its upkeep tick.
//!
//! Rust's `thread_local!` needs `std` and, in a shared library, compiles to
//! the general-dynamic TLS model: a call to `__tls_get_addr` per access
//! (4.25 ns per call per DESIGN.md §4, a quarter of a malloc+free budget). The initial-exec
//! model (one load at a thread-pointer offset taken from the GOT) is what a C
//! allocator would use, but `#[thread_local]`/`-Z tls-model` are nightly-only.
//! So the block is declared in assembly: a 16-byte `.tdata` symbol accessed
//! with a `@GOTTPOFF` relocation. In an executable the linker relaxes it to a
//! constant offset; in `libhakmem.so` it marks the library `STATIC_TLS`, which
//! is exactly the situation of `LD_PRELOAD` or a link-time dependency (glibc
//! also accepts a later `dlopen` while its static-TLS surplus lasts).
//!
//! Initialised per thread by the C runtime from the `.tdata` image: a new
//! thread starts with the address of a dormant context record (see
//! `Dormant` in the crate root), on which the fast paths miss without a
//! check of their own, and takes the slow path once. (The image holds an
//! address, so the dynamic linker relocates it once, before any thread
//! copies it.) This relies on every thread's static TLS being copied from
//! the image, as glibc's `pthread_create` does: a thread made by a raw
//! `clone` with a TLS block of its own, never initialised from the image,
//! would find a null pointer and fault at its first allocation (with the
//! former null-means-none convention it would have worked), as it would
//! in any C allocator's initial-exec TLS.

use crate::ThreadCtx;

#[cfg(not(target_arch = "x86_64"))]
compile_error!("hakmem's TLS slot is implemented for x86-64 only");

core::arch::global_asm!(
    ".section .tdata,\"awT\",@progbits",
    ".p2align 4",
    ".globl __hakmem_tls_ctx",
    ".hidden __hakmem_tls_ctx",
    ".type __hakmem_tls_ctx, @object",
    ".size __hakmem_tls_ctx, 16",
    "__hakmem_tls_ctx:",
    // +0: the context pointer.
    ".quad {dormant}",
    // +8: the upkeep tick (u32), then padding. A new thread's first
    // allocation winds it from 0 to u32::MAX, harmlessly: making the
    // context sets it to `UPKEEP_TICKS`.
    ".quad 0",
    ".text",
    dormant = sym crate::DORMANT,
);

/// The calling thread's TLS block: its offset from the thread pointer.
/// [`ctx_at`] and [`on_tick`] take it, so that a path using both loads it
/// once.
#[inline(always)]
pub fn block() -> usize {
    let t: usize;
    // SAFETY: loads the block's offset from the GOT.
    unsafe {
        core::arch::asm!(
            "mov {t}, qword ptr [rip + __hakmem_tls_ctx@GOTTPOFF]",
            t = out(reg) t,
            options(nostack, readonly, preserves_flags, pure),
        );
    }
    t
}

/// The calling thread's context, or a dormant record when it has none;
/// `block` is [`block`]'s value.
#[inline(always)]
pub fn ctx_at(block: usize) -> *mut ThreadCtx {
    let v: *mut ThreadCtx;
    // SAFETY: reads this thread's own TLS block.
    unsafe {
        core::arch::asm!(
            "mov {v}, qword ptr fs:[{t}]",
            t = in(reg) block,
            v = out(reg) v,
            options(nostack, readonly, preserves_flags, pure),
        );
    }
    v
}

/// The calling thread's context, or a dormant record when it has none.
#[inline(always)]
pub fn ctx() -> *mut ThreadCtx {
    ctx_at(block())
}

/// Sets the calling thread's context.
pub fn set_ctx(p: *mut ThreadCtx) {
    // SAFETY: writes this thread's own TLS block.
    unsafe {
        core::arch::asm!(
            "mov qword ptr fs:[{t}], {p}",
            t = in(reg) block(),
            p = in(reg) p,
            options(nostack, preserves_flags),
        );
    }
}

/// Counts one operation down on the calling thread's upkeep tick (a
/// per-thread `u32` next to the context pointer: a dormant record, shared
/// by threads, is never written) and runs `$due` when the tick reaches
/// zero; `$block` is [`block`]'s value. `$due` is not in an `unsafe`
/// context; unless it leaves (`return`), execution then continues after
/// the macro, as when the tick has not run out. One
/// decrement of memory and one branch, as for a field of the context, but
/// legal before the thread has one.
macro_rules! on_tick {
    ($block:expr, $due:block) => {
        // SAFETY: decrements this thread's own TLS word; the label runs
        // only on the branch.
        unsafe {
            core::arch::asm!(
                "sub dword ptr fs:[{t} + 8], 1",
                "jz {due}",
                t = in(reg) $block,
                due = label $due,
                options(nostack),
            );
        }
    };
}
pub(crate) use on_tick;

/// Sets the calling thread's upkeep tick.
pub fn set_tick(n: u32) {
    // SAFETY: writes this thread's own TLS word.
    unsafe {
        core::arch::asm!(
            "mov dword ptr fs:[{t} + 8], {n:e}",
            t = in(reg) block(),
            n = in(reg) n,
            options(nostack, preserves_flags),
        );
    }
}
