//! Allocation-free diagnostics: the one writer to stderr (and to any file
//! descriptor), a fixed-capacity [`Line`] to compose a message in, and
//! [`fatal`].
//!
//! [`write_fd`] is hakmem's only `write(2)` (hak-config's reports, hak-ffi's
//! invalid-pointer report and the router's statistics all go through it).

/// Writes all of `bytes` to stderr (see [`write_fd`]).
pub fn write_bytes(bytes: &[u8]) {
    write_fd(2, bytes);
}

/// Writes all of `bytes` to file descriptor `fd`: continues after a partial
/// write and retries a write interrupted by a signal (`EINTR`) before it
/// wrote anything; stops at any other error (there is nowhere to report
/// it) or when the descriptor takes nothing more. `errno` is left as the
/// last `write` set it.
pub fn write_fd(fd: i32, bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: the pointer/length pair describes a live slice.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n > 0 {
            rest = rest.get(n as usize..).unwrap_or(&[]);
        } else if n < 0 && crate::errno() == libc::EINTR {
            continue;
        } else {
            return;
        }
    }
}

/// A fixed-capacity line buffer for composing one message without allocating.
pub struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl Line {
    /// An empty line.
    pub const fn new() -> Self {
        Line { buf: [0; 512], len: 0 }
    }
    /// Appends bytes (silently truncated at capacity).
    pub fn s(&mut self, s: &str) -> &mut Self {
        self.b(s.as_bytes())
    }
    /// Appends raw bytes (silently truncated at capacity).
    pub fn b(&mut self, s: &[u8]) -> &mut Self {
        for &c in s {
            if self.len < self.buf.len() {
                self.buf[self.len] = c;
                self.len += 1;
            }
        }
        self
    }
    /// Appends a decimal number.
    pub fn u(&mut self, mut v: u64) -> &mut Self {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.b(&tmp[i..])
    }
    /// Appends `0x` and a hexadecimal number.
    pub fn x(&mut self, mut v: u64) -> &mut Self {
        let mut tmp = [0u8; 16];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b"0123456789abcdef"[(v & 15) as usize];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        self.s("0x").b(&tmp[i..])
    }
    /// The composed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    /// Writes the line to stderr.
    pub fn emit(&self) {
        write_bytes(self.as_bytes());
    }

    /// Writes the line to file descriptor `fd`.
    pub fn emit_to(&self, fd: i32) {
        write_fd(fd, self.as_bytes());
    }
}

/// Reports `hakmem: <what> 0x<ptr>` on stderr and aborts the process, as glibc
/// does for heap corruption. Never returns, never allocates.
///
/// Loom builds panic instead, so that a model reaching a fatal check reports
/// the failing interleaving.
#[cold]
pub fn fatal(what: &str, ptr: usize) -> ! {
    #[cfg(loom)]
    panic!("hakmem: {what} {ptr:#x}");
    #[cfg(not(loom))]
    fatal_abort(what, ptr)
}

#[cfg(not(loom))]
fn fatal_abort(what: &str, ptr: usize) -> ! {
    let mut l = Line::new();
    l.s("hakmem: ").s(what).s(" ").x(ptr as u64).s("\n");
    l.emit();
    crate::process::abort()
}
