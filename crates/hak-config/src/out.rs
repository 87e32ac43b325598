//! A fixed-buffer text writer for the rendered lines.

use crate::mode::Features;

/// A fixed-buffer text writer that silently cuts what does not fit.
pub(crate) struct Out<'a> {
    buf: &'a mut [u8],
    pub(crate) len: usize,
}

impl<'a> Out<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Out { buf, len: 0 }
    }

    pub(crate) fn byte(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    pub(crate) fn str(&mut self, s: &str) {
        s.bytes().for_each(|b| self.byte(b));
    }

    pub(crate) fn num(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        digits.get(i..).unwrap_or(&[]).iter().for_each(|&b| self.byte(b));
    }

    pub(crate) fn features(&mut self, f: Features) {
        if f.is_empty() {
            self.str("none");
        }
        for (i, (name, _)) in f.iter_names().enumerate() {
            if i > 0 {
                self.byte(b'|');
            }
            self.str(name);
        }
    }
}
