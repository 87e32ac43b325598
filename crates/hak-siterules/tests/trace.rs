//! Deterministic traces: the hints sites earn, the table when full, and a
//! site that changes behaviour.

#[path = "common/trace.rs"]
mod trace;

use hak_siterules::{Hint, SampledBlocks, SiteTable, BIG_MIN_SIZE, HINT_MIN_SIZE, MIN_SAMPLES, PROBE};
use trace::{run, SITES};

/// The trace of `trace::SITES` (400 000 allocations, one in 64 sampled)
/// teaches each site its hint: the 2 MiB long-lived buffers are Big, the
/// grown vectors Grow, the 4 KiB scratch and the 8 KiB messages none, and
/// the 8 KiB records kept among those messages LongLived; the 64-byte site
/// is never recorded.
#[test]
fn a_mixed_trace_teaches_each_site_its_hint() {
    let t: SiteTable = SiteTable::new();
    let b: SampledBlocks = SampledBlocks::new();
    let r = run(&t, &b, &SITES, 400_000, 6, 12345);
    let want = [Hint::Big, Hint::Grow, Hint::None, Hint::LongLived, Hint::None];
    for (s, w) in SITES.iter().zip(want) {
        let rep = t.site(s.addr).expect("the site is in the table");
        assert!(rep.counts.samples >= MIN_SAMPLES, "{}: {:?}", s.what, rep);
        assert_eq!(t.hint(s.addr, s.size), w, "{}: {:?}", s.what, rep);
    }
    assert!(t.site(SITES[5].addr).is_none(), "sizes of 1 KiB or less are not recorded");
    assert_eq!(t.hint(SITES[5].addr, SITES[5].size), Hint::None);
    // The hint depends on the request too: never at 1 KiB or less, and a
    // Big site's small request is long-lived.
    assert_eq!(t.hint(SITES[3].addr, HINT_MIN_SIZE), Hint::None);
    assert_eq!(t.hint(SITES[0].addr, BIG_MIN_SIZE - 1), Hint::LongLived);
    assert_eq!(t.hint(0x40_9999, 1 << 20), Hint::None, "an unknown site");
    // Counts add up: every recorded sample is in one site, every free and
    // growth was counted, and the blocks still alive are the tracked ones.
    let s = t.stats();
    assert_eq!((s.sites, s.dropped, s.forgotten), (5, 0, 0));
    assert_eq!(s.samples, r.recorded, "{r:?}");
    assert_eq!(s.frees, r.frees);
    assert_eq!(s.grows, r.reallocs, "every realloc of the trace grows");
    assert_eq!(s.hints, [2, 1, 1, 1]);
    let live: u64 = SITES.iter().filter_map(|x| t.site(x.addr)).map(|x| x.live_bytes).sum();
    assert!(live >= 100 * (2 << 20), "the 2 MiB buffers stay live: {live}");
    assert_eq!(b.len() as u64, r.recorded - r.frees);
    // Sampling picked about one allocation in 64.
    assert!((r.sampled as f64 / r.allocs as f64 - 1.0 / 64.0).abs() < 0.002, "{r:?}");
}

/// Another seed and sampling rate give the same hints: they do not hang
/// on one interleaving.
#[test]
fn the_hints_hold_across_seeds_and_rates() {
    for (seed, shift) in [(1u32, 5u32), (777, 6), (0xdead_beef, 7)] {
        let t: SiteTable = SiteTable::new();
        let b: SampledBlocks = SampledBlocks::new();
        run(&t, &b, &SITES, 600_000, shift, seed);
        let got: Vec<Hint> = SITES[..5].iter().map(|s| t.hint(s.addr, s.size)).collect();
        assert_eq!(got, [Hint::Big, Hint::Grow, Hint::None, Hint::LongLived, Hint::None], "seed {seed} shift {shift}");
    }
}

/// Long-lived 8 KiB records with no short-lived blocks of their size
/// around get no hint: there is nothing to segregate them from.
#[test]
fn long_lived_blocks_without_churn_get_no_hint() {
    let t: SiteTable = SiteTable::new();
    let b: SampledBlocks = SampledBlocks::new();
    let sites = [SITES[2], SITES[3]]; // 4 KiB scratch, 8 KiB records
    run(&t, &b, &sites, 400_000, 6, 9);
    assert!(t.site(SITES[3].addr).unwrap().counts.samples >= MIN_SAMPLES);
    assert_eq!(t.hint(SITES[3].addr, SITES[3].size), Hint::None);
}

/// A full probe window drops the new site's samples and counts them; the
/// sites in the table keep learning; nothing is evicted or doubled.
#[test]
fn a_full_table_drops_and_counts_new_sites() {
    // N = PROBE: one window, the whole table.
    let t: SiteTable<PROBE> = SiteTable::new();
    for k in 1..=PROBE {
        assert!(t.record_alloc(k << 12, 2 << 20, 0).is_some());
    }
    for _ in 0..3 {
        assert!(t.record_alloc(0xdead_0000, 2 << 20, 0).is_none());
    }
    assert!(t.site(0xdead_0000).is_none());
    assert_eq!(t.hint(0xdead_0000, 2 << 20), Hint::None);
    for _ in 1..MIN_SAMPLES {
        assert!(t.record_alloc(1 << 12, 2 << 20, 0).is_some(), "a site in the table still records");
    }
    assert_eq!(t.hint(1 << 12, 2 << 20), Hint::Big);
    let s = t.stats();
    assert_eq!((s.sites, s.dropped, s.samples), (PROBE as u32, 3, (PROBE as u32 + MIN_SAMPLES - 1) as u64));
    // Every site holds one entry.
    let mut out = [Default::default(); PROBE];
    assert_eq!(t.top(&mut out), PROBE);
    let mut sites: Vec<usize> = out.iter().map(|r| r.site).collect();
    sites.sort();
    assert_eq!(sites, (1..=PROBE).map(|k| k << 12).collect::<Vec<_>>());

    // A big table with more sites than entries: each site in it once,
    // every sample recorded or dropped.
    let t: SiteTable<1024> = SiteTable::new();
    let mut kept = 0u64;
    for k in 1..=3000usize {
        kept += t.record_alloc(0x40_0000 + k * 48, 4096, 0).is_some() as u64;
    }
    let s = t.stats();
    assert_eq!(s.samples, kept);
    assert_eq!(s.samples + s.dropped, 3000);
    assert_eq!(s.sites as u64, kept, "one entry per recorded site");
    assert!(s.sites <= 1024 && s.sites > 900, "{s:?}");
}

/// A site that kept its blocks and then turns to short-lived ones loses
/// its hint (for its young frees: the churn around it stays): aging its
/// counters at 1024 samples makes that happen after about 180 young
/// samples, where its 1000 samples of history would take 334.
#[test]
fn a_site_that_changes_is_relearned() {
    let t: SiteTable = SiteTable::new();
    let (site, churn) = (0x40_1111usize, 0x40_2222usize);
    for _ in 0..64 {
        let tag = t.record_alloc(churn, 8192, 0).unwrap();
        t.record_free(tag, 1);
    }
    for _ in 0..1000 {
        t.record_alloc(site, 8192, 0).unwrap(); // kept for good
    }
    assert_eq!(t.hint(site, 8192), Hint::LongLived);
    let mut flipped = None;
    for k in 1..=400u64 {
        let tag = t.record_alloc(site, 8192, 10 * k).unwrap();
        t.record_free(tag, 10 * k + 1);
        if flipped.is_none() && t.hint(site, 8192) == Hint::None {
            flipped = Some(k);
        }
    }
    let k = flipped.expect("the hint follows the new behaviour");
    assert!((100..250).contains(&k), "flipped after {k} young samples");
}

/// `query` asks for samples exactly while a site could get an entry and
/// has fewer than `MIN_SAMPLES`: a new site, a site being learned; not a
/// settled site, nor one whose window is full of other sites, nor a
/// request of at most `HINT_MIN_SIZE` bytes.
#[test]
fn query_asks_for_samples_until_a_site_is_settled() {
    let t: SiteTable<PROBE> = SiteTable::new();
    let site = 1 << 12;
    assert_eq!(t.query(site, 2 << 20), (Hint::None, true), "a new site");
    assert_eq!(t.query(site, HINT_MIN_SIZE), (Hint::None, false), "too small");
    assert_eq!(t.query(0, 2 << 20), (Hint::None, false), "no site");
    for n in 1..=MIN_SAMPLES {
        t.record_alloc(site, 2 << 20, 0).unwrap();
        let want = if n < MIN_SAMPLES { (Hint::None, true) } else { (Hint::Big, false) };
        assert_eq!(t.query(site, 2 << 20), want, "after {n} samples");
    }
    // Big applies from BIG_MIN_SIZE, as `hint` says; below it the site is long-lived.
    assert_eq!(t.query(site, BIG_MIN_SIZE - 1), (Hint::LongLived, false));
    assert_eq!(t.query(site, BIG_MIN_SIZE - 1).0, t.hint(site, BIG_MIN_SIZE - 1));
    assert_eq!(t.query(site, 2 << 20).0, t.hint(site, 2 << 20));
    // Fill the one window: a new site can no longer get an entry.
    for k in 2..=PROBE {
        t.record_alloc(k << 12, 4096, 0).unwrap();
        assert_eq!(t.query(k << 12, 4096), (Hint::None, true));
    }
    assert_eq!(t.query(0xdead_0000, 2 << 20), (Hint::None, false), "window full");
}

/// A long-lived site whose sizes spread over several size buckets keeps
/// its hint when its mean moves to a bucket where no other site allocates
/// (`benches/c/sites.c`: kept blocks of 33..288 KiB among scratch blocks of
/// the same sizes), and a Big site's request below `BIG_MIN_SIZE` is
/// long-lived rather than routed by size.
#[test]
fn a_spread_long_lived_site_keeps_its_hint_when_its_mean_moves() {
    let t: SiteTable = SiteTable::new();
    let (scratch, keep) = (0x10_0000, 0x20_0000);
    // Scratch churn at 270 KiB and at 100 KiB: every block dies young.
    for size in [270 << 10, 100 << 10] {
        for _ in 0..20 {
            let tag = t.record_alloc(scratch, size, 0).unwrap();
            t.record_free(tag, 1);
        }
    }
    // 16 kept blocks of 270 KiB, still alive: a Big site.
    for _ in 0..MIN_SAMPLES {
        t.record_alloc(keep, 270 << 10, 0).unwrap();
    }
    assert_eq!(t.hint(keep, 270 << 10), Hint::Big);
    assert_eq!(t.hint(keep, 100 << 10), Hint::LongLived, "a Big site's smaller block");
    // Kept blocks of 100 KiB bring the mean to about 190 KiB, a bucket
    // (128..256 KiB) where no other site has a sample.
    for _ in 0..8 {
        t.record_alloc(keep, 100 << 10, 0).unwrap();
    }
    let c = t.site(keep).unwrap().counts;
    assert!((128 << 10..256 << 10).contains(&c.mean_size()), "{c:?}");
    assert_eq!(t.hint(keep, 100 << 10), Hint::LongLived, "{c:?}");
    // Without churn in its buckets a long-lived site gets no hint.
    let lone = 0x30_0000;
    for _ in 0..MIN_SAMPLES {
        t.record_alloc(lone, 40 << 10, 0).unwrap();
    }
    assert_eq!(t.hint(lone, 40 << 10), Hint::None);
}
