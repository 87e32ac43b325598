//! The fatal "invalid pointer" report, composed without allocating.

use crate::sys::{abort, write_stderr};

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
    abort()
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
}
