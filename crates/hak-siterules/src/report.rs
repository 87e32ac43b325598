//! What the table has learned, for `HAKMEM_STATS=1` and reports:
//! [`Stats`], [`SiteReport`], [`SiteTable::stats`], [`SiteTable::top`],
//! [`SiteTable::site`].

use core::sync::atomic::Ordering::Relaxed;

use hak_os::diag::Line;
use hak_os::sync::Ordering;

use crate::hint::{Counts, Hint};
use crate::table::{Entry, SiteTable};

/// Table-wide totals (relaxed reads: each exact, the set may mix moments).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries in the table (`N`).
    pub capacity: usize,
    /// Sites holding an entry.
    pub sites: u32,
    /// Samples recorded (minus the ones withdrawn by `forget`).
    pub samples: u64,
    /// Samples dropped because their site's probe window was full.
    pub dropped: u64,
    /// Frees of sampled blocks recorded.
    pub frees: u64,
    /// Of those, blocks that died young.
    pub young_frees: u64,
    /// `realloc` growth events of sampled blocks.
    pub grows: u64,
    /// Samples withdrawn with `forget` (blocks the allocator could not track).
    pub forgotten: u64,
    /// Sites by current hint, indexed by `Hint as usize`.
    pub hints: [u32; 4],
}

/// One site's learned state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SiteReport {
    /// The site's return address.
    pub site: usize,
    /// Its counters (after aging: see [`AGE_SAMPLES`](crate::AGE_SAMPLES)).
    pub counts: Counts,
    /// Bytes of its sampled blocks still alive.
    pub live_bytes: u64,
    /// Its current hint.
    pub hint: Hint,
}

impl Stats {
    /// Appends the totals to `l` as one `HAKMEM_STATS` line (no newline):
    /// `site rules: sites=5/1024 samples=3497 dropped=0 frees=3230
    /// young=3086 grows=834 forgotten=0 hints: none=2 big=1 grow=1
    /// long-lived=1`.
    pub fn write(&self, l: &mut Line) {
        l.s("site rules: sites=").u(self.sites as u64).s("/").u(self.capacity as u64);
        l.s(" samples=").u(self.samples).s(" dropped=").u(self.dropped);
        l.s(" frees=").u(self.frees).s(" young=").u(self.young_frees);
        l.s(" grows=").u(self.grows).s(" forgotten=").u(self.forgotten).s(" hints:");
        for (h, n) in Hint::ALL.iter().zip(self.hints) {
            l.s(" ").s(h.name()).s("=").u(n as u64);
        }
    }
}

impl SiteReport {
    /// Appends the site to `l` as one line (no newline): `site 0x401000:
    /// samples=148 mean=2097152 young=0 old=0 grown=0 live_kb=303104
    /// hint=big`.
    pub fn write(&self, l: &mut Line) {
        let c = &self.counts;
        l.s("site ").x(self.site as u64).s(": samples=").u(c.samples as u64);
        l.s(" mean=").u(c.mean_size()).s(" young=").u(c.young as u64).s(" old=").u(c.old as u64);
        l.s(" grown=").u(c.grown as u64).s(" live_kb=").u(self.live_bytes >> 10);
        l.s(" hint=").s(self.hint.name());
    }

    fn of(e: &Entry, site: usize) -> SiteReport {
        SiteReport {
            site,
            counts: e.counts(),
            live_bytes: e.live(),
            hint: Hint::from_u8(e.hint.load(Ordering::Relaxed)),
        }
    }
}

impl<const N: usize> SiteTable<N> {
    /// The table-wide totals and the number of sites holding each hint
    /// (reads every entry's key and hint: for reports, not for hot paths).
    pub fn stats(&self) -> Stats {
        let mut hints = [0u32; 4];
        for e in self.entries() {
            if e.key.load(Ordering::Relaxed) != 0 {
                let h = Hint::from_u8(e.hint.load(Ordering::Relaxed)) as usize;
                if let Some(n) = hints.get_mut(h) {
                    *n += 1;
                }
            }
        }
        Stats {
            capacity: N,
            sites: self.sites.load(Relaxed),
            samples: self.samples.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            frees: self.frees.load(Relaxed),
            young_frees: self.young_frees.load(Relaxed),
            grows: self.grows.load(Relaxed),
            forgotten: self.forgotten.load(Relaxed),
            hints,
        }
    }

    /// The learned state of `site`, if it holds an entry.
    pub fn site(&self, site: usize) -> Option<SiteReport> {
        if site == 0 {
            return None;
        }
        self.find(site).map(|e| SiteReport::of(e, site))
    }

    /// Fills `out` with the sites of the most samples, most first, and
    /// returns how many it wrote (at most `out.len()`, at most the number
    /// of sites). Reads every entry once; no allocation (`out` is the
    /// caller's, e.g. a `[SiteReport; 16]` on the stack).
    pub fn top(&self, out: &mut [SiteReport]) -> usize {
        let mut n = 0;
        for e in self.entries() {
            let site = e.key.load(Ordering::Relaxed);
            if site == 0 {
                continue;
            }
            let r = SiteReport::of(e, site);
            // The rank of `r` among the `n` kept (sorted, most samples first).
            let pos = out.iter().take(n).position(|k| k.counts.samples < r.counts.samples).unwrap_or(n);
            if pos >= out.len() {
                continue;
            }
            n = (n + 1).min(out.len());
            // Shift the kept ones below `pos` down by one (the last falls off).
            if let Some(tail) = out.get_mut(pos..n) {
                tail.rotate_right(1);
                if let Some(slot) = tail.first_mut() {
                    *slot = r;
                }
            }
        }
        n
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::{Hint, SiteReport, SiteTable};

    #[test]
    fn top_keeps_the_most_sampled_sites_in_order() {
        let t: SiteTable<64> = SiteTable::new();
        // Site k gets 3k samples (odd k only), sites 1..=19.
        for k in 1..=19usize {
            if k % 2 == 1 {
                for _ in 0..3 * k {
                    assert!(t.record_alloc(0x1000 * k, 4096, 0).is_some());
                }
            }
        }
        let mut out = [SiteReport::default(); 4];
        assert_eq!(t.top(&mut out), 4);
        let sites: [usize; 4] = core::array::from_fn(|i| out[i].site);
        assert_eq!(sites, [0x13000, 0x11000, 0xf000, 0xd000]);
        assert_eq!(out[0].counts.samples, 57);
        assert_eq!(out[0].live_bytes, 57 * 4096);
        let mut many = [SiteReport::default(); 32];
        assert_eq!(t.top(&mut many), 10, "only 10 sites exist");
        assert!(many.windows(2).take(9).all(|w| w[0].counts.samples > w[1].counts.samples));
        assert_eq!(t.top(&mut []), 0);
        let s = t.stats();
        assert_eq!((s.sites, s.samples, s.hints[Hint::None as usize]), (10, 300, 10));
        let mut l = hak_os::diag::Line::new();
        s.write(&mut l);
        assert_eq!(
            l.as_bytes(),
            b"site rules: sites=10/64 samples=300 dropped=0 frees=0 young=0 grows=0 forgotten=0 \
              hints: none=10 big=0 grow=0 long-lived=0"
        );
        let mut l = hak_os::diag::Line::new();
        out[0].write(&mut l);
        assert_eq!(l.as_bytes(), b"site 0x13000: samples=57 mean=4096 young=0 old=0 grown=0 live_kb=228 hint=none");
    }
}
