//! Environment variables, read without allocating.
//!
//! [`getenv`] replaces hak-config's `libc::getenv` (its private `getenv`,
//! which builds the NUL-terminated key in a stack buffer and calls this).

use core::ffi::CStr;

/// The value of the environment variable `key`, as bytes without the
/// terminating NUL; `None` when it is unset. Reads the process environment
/// in place (`getenv(3)`): no allocation, no copy.
///
/// # Safety
/// The slice points into the environment: it stays valid only while no one
/// modifies the environment (`setenv`, `putenv`, `unsetenv`, `clearenv`).
/// The caller picks the lifetime `'a` and must not use the slice beyond
/// such a modification (hak-config reads its variables once, while
/// parsing, and keeps no reference to them).
pub unsafe fn getenv<'a>(key: &CStr) -> Option<&'a [u8]> {
    // SAFETY: `key` is NUL-terminated; getenv only reads it.
    let p = unsafe { libc::getenv(key.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: getenv returned a non-null pointer to a NUL-terminated string
    // in the environment, valid for `'a` per the caller's contract.
    Some(unsafe { CStr::from_ptr(p) }.to_bytes())
}
