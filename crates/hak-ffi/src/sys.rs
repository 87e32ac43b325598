//! Small platform helpers for the C ABI layer: `errno`, the page size and the
//! fatal "invalid pointer" report. Nothing here allocates or panics.

use core::sync::atomic::{AtomicUsize, Ordering};
use libc::c_int;

/// Read the calling thread's `errno`.
#[inline]
pub(crate) fn errno() -> c_int {
    // SAFETY: `__errno_location` always returns a valid pointer to the calling
    // thread's errno slot (glibc sets it up before any user code runs).
    unsafe { *libc::__errno_location() }
}

/// Set the calling thread's `errno`.
#[inline]
pub(crate) fn set_errno(e: c_int) {
    // SAFETY: as in `errno`: the pointer is valid and thread-local.
    unsafe { *libc::__errno_location() = e }
}

/// Cached system page size (0 = not yet read).
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The system page size (`sysconf(_SC_PAGESIZE)`, read once; 4096 if that fails).
#[inline]
pub(crate) fn page_size() -> usize {
    let ps = PAGE_SIZE.load(Ordering::Relaxed);
    if ps != 0 {
        return ps;
    }
    page_size_slow()
}

#[cold]
fn page_size_slow() -> usize {
    // SAFETY: `sysconf` has no preconditions; for _SC_PAGESIZE glibc returns a
    // value cached by the loader without allocating or touching errno.
    let r = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let ps = if r > 0 && (r as usize).is_power_of_two() { r as usize } else { 4096 };
    PAGE_SIZE.store(ps, Ordering::Relaxed);
    ps
}

/// A fixed-size stack buffer for composing diagnostics without allocating.
/// Bytes that do not fit are dropped.
pub(crate) struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    /// An empty buffer.
    pub(crate) const fn new() -> Self {
        Self { buf: [0; N], len: 0 }
    }

    /// Append `s` (truncated to the remaining room).
    pub(crate) fn push(&mut self, s: &[u8]) {
        for &b in s {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
    }

    /// Append `v` in lower-case hexadecimal without leading zeros (at least one digit).
    pub(crate) fn push_hex(&mut self, v: usize) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut tmp = [0u8; 2 * core::mem::size_of::<usize>()];
        let mut i = tmp.len();
        let mut v = v;
        loop {
            i -= 1;
            tmp[i] = DIGITS[v & 0xf];
            v >>= 4;
            if v == 0 || i == 0 {
                break;
            }
        }
        self.push(&tmp[i..]);
    }

    /// The bytes written so far.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Write `msg` to stderr with `write(2)`, ignoring errors and short writes
/// after a retry on `EINTR`.
pub(crate) fn write_stderr(msg: &[u8]) {
    let mut rest = msg;
    while !rest.is_empty() {
        // SAFETY: `rest` is a valid readable slice for `rest.len()` bytes.
        let r = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if r > 0 {
            rest = rest.get(r as usize..).unwrap_or(&[]);
        } else if r < 0 && errno() == libc::EINTR {
            continue;
        } else {
            break;
        }
    }
}

/// Report `func(): invalid pointer 0x…` on stderr and abort, as glibc does for
/// a pointer that no allocator in the chain owns.
#[cold]
#[inline(never)]
pub(crate) fn invalid_pointer(func: &[u8], p: *const u8) -> ! {
    let mut m = StackBuf::<96>::new();
    m.push(b"hakmem: ");
    m.push(func);
    m.push(b"(): invalid pointer 0x");
    m.push_hex(p as usize);
    m.push(b"\n");
    write_stderr(m.as_bytes());
    // SAFETY: `abort` has no preconditions and never returns.
    unsafe { libc::abort() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_formatting() {
        let mut b = StackBuf::<64>::new();
        b.push_hex(0);
        b.push(b" ");
        b.push_hex(0xdead_beef);
        b.push(b" ");
        b.push_hex(usize::MAX);
        assert_eq!(b.as_bytes(), b"0 deadbeef ffffffffffffffff");
    }

    #[test]
    fn stack_buf_truncates() {
        let mut b = StackBuf::<4>::new();
        b.push(b"abcdef");
        assert_eq!(b.as_bytes(), b"abcd");
    }

    #[test]
    fn page_size_is_sane() {
        let ps = page_size();
        assert!(ps.is_power_of_two() && ps >= 4096);
        assert_eq!(ps, page_size());
    }
}
