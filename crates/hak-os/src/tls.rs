//! The calling thread's TLS block (x86-64): a pointer word (one
//! `%fs`-relative load) and a `u32` tick, in 16 bytes of initial-exec TLS.
//!
//! Rust's `thread_local!` needs `std` and, in a shared library, compiles to
//! the general-dynamic TLS model: a call to `__tls_get_addr` per access
//! (4.25 ns per call, a quarter of a malloc+free budget). The initial-exec
//! model (one load at a thread-pointer offset taken from the GOT) is what a
//! C allocator would use, but `#[thread_local]`/`-Z tls-model` are
//! nightly-only. So the block is declared in assembly: a 16-byte `.tdata`
//! symbol, `__hakmem_tls_ctx`, accessed with a `@GOTTPOFF` relocation. In
//! an executable the linker relaxes it to a constant offset; in
//! `libhakmem.so` it marks the library `STATIC_TLS`, which is exactly the
//! situation of `LD_PRELOAD` or a link-time dependency (glibc also accepts
//! a later `dlopen` while its static-TLS surplus lasts).
//!
//! Layout: `+0` the pointer word ([`get`], [`set`]), `+8` the tick
//! ([`set_tick`], [`on_tick!`](crate::on_tick)), then padding.
//!
//! The block is defined by the one crate that uses it, once per linked
//! program, with [`tls_block!`](crate::tls_block) naming the initial value
//! of the pointer word: the router declares
//! `hak_os::tls_block!(crate::DORMANT)`. A program that calls these
//! functions without it fails to link (undefined `__hakmem_tls_ctx`); every
//! function here is `#[inline(always)]`, so hak-os itself never refers to
//! the symbol.
//!
//! Every thread's block is initialised by the C runtime from the `.tdata`
//! image (the image holds an address, so the dynamic linker relocates it
//! once, before any thread copies it): a new thread starts with the initial
//! pointer and a tick of 0. This relies on every thread's static TLS being
//! copied from the image, as glibc's `pthread_create` does: a thread made
//! by a raw `clone` with a TLS block of its own, never initialised from the
//! image, would find a null pointer, as in any C allocator's initial-exec
//! TLS.

/// Declares the TLS block (see the [module docs](self)): 16 bytes of
/// `.tdata` named `__hakmem_tls_ctx`, whose pointer word starts as the
/// address of `$init` (a `static` of the invoking crate, named by path) in
/// every thread, and whose tick starts at 0. Invoke it once per linked
/// program, at item level: `hak_os::tls_block!(crate::DORMANT);`.
#[macro_export]
macro_rules! tls_block {
    ($init:path) => {
        ::core::arch::global_asm!(
            ".section .tdata,\"awT\",@progbits",
            ".p2align 4",
            ".globl __hakmem_tls_ctx",
            ".hidden __hakmem_tls_ctx",
            ".type __hakmem_tls_ctx, @object",
            ".size __hakmem_tls_ctx, 16",
            "__hakmem_tls_ctx:",
            // +0: the pointer word.
            ".quad {init}",
            // +8: the tick (u32), then padding.
            ".quad 0",
            ".text",
            init = sym $init,
        );
    };
}
pub use crate::tls_block;

/// The calling thread's TLS block: its offset from the thread pointer, the
/// argument of the other functions (so that a path using several of them
/// loads it once; the load is `pure`, so repeated calls fold into one).
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

/// The calling thread's pointer word; `block` is [`block`]'s value.
#[inline(always)]
pub fn get(block: usize) -> *mut () {
    let v: *mut ();
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

/// Sets the calling thread's pointer word; `block` is [`block`]'s value.
#[inline(always)]
pub fn set(block: usize, p: *mut ()) {
    // SAFETY: writes this thread's own TLS block.
    unsafe {
        core::arch::asm!(
            "mov qword ptr fs:[{t}], {p}",
            t = in(reg) block,
            p = in(reg) p,
            options(nostack, preserves_flags),
        );
    }
}

/// Sets the calling thread's tick; `block` is [`block`]'s value.
#[inline(always)]
pub fn set_tick(block: usize, n: u32) {
    // SAFETY: writes this thread's own TLS word.
    unsafe {
        core::arch::asm!(
            "mov dword ptr fs:[{t} + 8], {n:e}",
            t = in(reg) block,
            n = in(reg) n,
            options(nostack, preserves_flags),
        );
    }
}

/// Counts one operation down on the calling thread's tick (the `u32` of
/// the TLS block, per thread whatever the pointer word points to) and runs
/// `$due` when it reaches zero; `$block` is [`block`]'s value. `$due` is
/// not in an `unsafe` context; unless it leaves (`return`), execution then
/// continues after the macro, as when the tick has not run out. One
/// decrement of memory and one branch (`sub` + `jz` to an `asm!` label).
///
/// ```ignore
/// let t = hak_os::tls::block();
/// hak_os::tls::on_tick!(t, { upkeep() });
/// ```
#[macro_export]
macro_rules! on_tick {
    ($block:expr, $due:block) => {
        // SAFETY: decrements this thread's own TLS word; the label runs
        // only on the branch.
        unsafe {
            ::core::arch::asm!(
                "sub dword ptr fs:[{t} + 8], 1",
                "jz {due}",
                t = in(reg) $block,
                due = label $due,
                options(nostack),
            );
        }
    };
}
pub use crate::on_tick;
