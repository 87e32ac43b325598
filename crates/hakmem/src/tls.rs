//! The calling thread's TLS block, typed for the router: its context
//! pointer and its upkeep tick.
//!
//! The block itself (16 initial-exec `.tdata` bytes declared in assembly:
//! one `%fs`-relative load, no `__tls_get_addr`) is the platform layer's
//! (`hak_os::tls`); this module declares it with the router's initial
//! pointer and gives its pointer word the context's type.
//!
//! A new thread starts with the address of a dormant context record (see
//! `Dormant` in `ctx.rs`), on which the fast paths miss without a check of
//! their own, and takes the slow path once. This relies on every thread's
//! static TLS being copied from the image, as glibc's `pthread_create`
//! does: a thread made by a raw `clone` with a TLS block of its own, never
//! initialised from the image, would fault at its first allocation, as in
//! any C allocator's initial-exec TLS.

#[cfg(not(target_arch = "x86_64"))]
compile_error!("hakmem's TLS block (hak_os::tls) is implemented for x86-64 only");

use crate::ThreadCtx;
use hak_os::tls;

hak_os::tls_block!(crate::DORMANT);

pub use hak_os::tls::{block, on_tick};

/// The calling thread's context, or a dormant record when it has none;
/// `block` is [`block`]'s value.
#[inline(always)]
pub fn ctx_at(block: usize) -> *mut ThreadCtx {
    tls::get(block).cast()
}

/// The calling thread's context, or a dormant record when it has none.
#[inline(always)]
pub fn ctx() -> *mut ThreadCtx {
    ctx_at(block())
}

/// Sets the calling thread's context.
pub fn set_ctx(p: *mut ThreadCtx) {
    tls::set(block(), p.cast());
}

/// Sets the calling thread's upkeep tick.
pub fn set_tick(n: u32) {
    tls::set_tick(block(), n);
}
