//! Loom models of the site table and the sampled-block map (`cargo xtask
//! loom`). Each execution builds fresh instances of the shipped types
//! (keys, hints and tag words are the facade's loom atomics) and checks,
//! after the joins: every site holds exactly one entry, inside its probe
//! window; counts add up; drops are counted; a hint is always valid; a
//! sampled block's tag is taken once, whole.

use std::sync::Arc;
use std::vec::Vec;

use hak_os::sync::loom_model as model;
use hak_os::sync::Ordering;
use loom::thread;

use crate::{Hint, SampleTag, SampledBlocks, SiteTable, MIN_SAMPLES, PROBE};

type Table = SiteTable<8>;
type Wide = SiteTable<16>;

/// The slots holding `site` (by a walk of every entry).
fn slots_of<const N: usize>(t: &SiteTable<N>, site: usize) -> Vec<usize> {
    (0..N).filter(|&i| t.slot(i).key.load(Ordering::Relaxed) == site).collect()
}

/// Checks that `site` holds exactly one entry, within its window, with
/// `samples` samples.
fn one_entry<const N: usize>(t: &SiteTable<N>, site: usize, samples: u32) {
    let at = slots_of(t, site);
    assert_eq!(at.len(), 1, "site {site:#x} in slots {at:?}");
    let dist = at[0].wrapping_sub(SiteTable::<N>::home(site)) & (N - 1);
    assert!(dist < PROBE, "site {site:#x} outside its window");
    assert_eq!(t.site(site).map(|r| r.counts.samples), Some(samples), "site {site:#x}");
}

/// Two distinct sites (non-zero) with the same home slot in a table of `N`.
fn colliding<const N: usize>() -> (usize, usize) {
    let a = 0x40_1000;
    let b = (a + 16..).step_by(16).find(|&b| SiteTable::<N>::home(b) == SiteTable::<N>::home(a));
    (a, b.expect("a colliding site"))
}

/// Two threads see one new site at once: one claim wins, the other uses
/// the winner's slot; both samples land in the one entry.
#[test]
fn same_key_claim_race() {
    model("same_key_claim_race", || {
        let t = Arc::new(Table::new());
        let site = 0x40_1234;
        let h: Vec<_> = (0..2)
            .map(|_| {
                let t = t.clone();
                thread::spawn(move || t.record_alloc(site, 4096, 0).expect("room"))
            })
            .collect();
        let tags: Vec<SampleTag> = h.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(tags[0], tags[1], "both samples name the one entry");
        one_entry(&t, site, 2);
        assert_eq!((t.stats().sites, t.stats().samples, t.stats().dropped), (1, 2, 0));
    });
}

/// Colliding sites claimed concurrently (one thread also records the
/// other's site afterwards): each site holds exactly one entry, no claim
/// is lost.
#[test]
fn colliding_keys_claim_race() {
    model("colliding_keys_claim_race", || {
        let (a, b) = colliding::<16>();
        let t = Arc::new(Wide::new());
        let t1 = t.clone();
        let h1 = thread::spawn(move || assert!(t1.record_alloc(a, 4096, 0).is_some()));
        let t2 = t.clone();
        let h2 = thread::spawn(move || {
            assert!(t2.record_alloc(b, 4096, 0).is_some());
            assert!(t2.record_alloc(a, 4096, 0).is_some());
        });
        h1.join().unwrap();
        h2.join().unwrap();
        one_entry(&t, a, 2);
        one_entry(&t, b, 1);
        assert_eq!(t.stats().sites, 2);
    });
}

/// A writer records the sample that earns a site its hint while a reader
/// looks it up twice: the reader sees a valid hint, never going back from
/// the new one to the old one; afterwards the hint is there.
#[test]
fn hint_read_while_recording() {
    model("hint_read_while_recording", || {
        let t = Arc::new(Table::new());
        let site = 0x40_5678;
        let size = 2 << 20;
        for _ in 1..MIN_SAMPLES {
            t.record_alloc(site, size, 0).expect("room");
        }
        assert_eq!(t.hint(site, size), Hint::None);
        let w = t.clone();
        let writer = thread::spawn(move || w.record_alloc(site, size, 0).expect("room"));
        let r = t.clone();
        let reader = thread::spawn(move || {
            let first = r.hint(site, size);
            let second = r.hint(site, size);
            for h in [first, second] {
                assert!(h == Hint::None || h == Hint::Big, "{h:?}");
            }
            assert!(!(first == Hint::Big && second == Hint::None), "hint went back");
        });
        writer.join().unwrap();
        reader.join().unwrap();
        assert_eq!(t.hint(site, size), Hint::Big);
        assert_eq!(t.slot(SiteTable::<8>::home(site)).hint.load(Ordering::Relaxed), Hint::Big as u8);
    });
}

/// A window with one free slot and two new sites racing for it: one gets
/// it, the other's sample is dropped and counted; no key is doubled or lost.
#[test]
fn full_window_drops() {
    model("full_window_drops", || {
        // N = PROBE: every site's window is the whole table.
        let t = Arc::new(Table::new());
        for k in 1..PROBE {
            t.record_alloc(k << 12, 4096, 0).expect("room");
        }
        let h: Vec<_> = [0x100_000usize, 0x200_000]
            .into_iter()
            .map(|site| {
                let t = t.clone();
                thread::spawn(move || (site, t.record_alloc(site, 4096, 0)))
            })
            .collect();
        let got: Vec<(usize, Option<SampleTag>)> = h.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<usize> = got.iter().filter(|(_, g)| g.is_some()).map(|&(s, _)| s).collect();
        assert_eq!(winners.len(), 1, "one new site gets the last slot");
        let loser = got.iter().find(|(_, g)| g.is_none()).map(|&(s, _)| s).unwrap();
        assert!(slots_of(&t, loser).is_empty());
        for k in 1..PROBE {
            one_entry(&t, k << 12, 1);
        }
        one_entry(&t, winners[0], 1);
        let s = t.stats();
        assert_eq!((s.sites, s.samples, s.dropped), (PROBE as u32, PROBE as u64, 1));
    });
}

/// Two frees of one sampled block (a double free) take its tag: exactly
/// one gets it, whole.
#[test]
fn blocks_double_take() {
    model("blocks_double_take", || {
        let b = Arc::new(SampledBlocks::<8>::new());
        let tag = SampleTag::from_raw([0x1234_5678, 99]);
        assert!(b.insert(0x7000, tag));
        let h: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || b.take(0x7000))
            })
            .collect();
        let got: Vec<Option<SampleTag>> = h.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(got.iter().filter(|g| **g == Some(tag)).count(), 1, "{got:?}");
        assert_eq!(got.iter().filter(|g| g.is_none()).count(), 1, "{got:?}");
        assert!(b.is_empty());
    });
}

/// One thread frees a sampled block while another samples a block whose
/// address shares the window (and may reuse the freed slot) and frees it:
/// each gets exactly its own tag.
#[test]
fn blocks_insert_vs_take() {
    model("blocks_insert_vs_take", || {
        let b = Arc::new(SampledBlocks::<8>::new());
        let ta = SampleTag::from_raw([1, 10]);
        let tb = SampleTag::from_raw([2, 20]);
        // A sits in its home slot; B's window starts there too; all other
        // slots but one are full, so B's insert races the free of A's slot.
        let home = SampledBlocks::<8>::home;
        let (a, bb) = (0xa000usize, (0xa010usize..).step_by(16).find(|&x| home(x) == home(0xa000)).unwrap());
        assert!(b.insert(a, ta));
        for k in 2..PROBE {
            assert!(b.insert(k << 20, SampleTag::from_raw([k as u64, 0])));
        }
        let b1 = b.clone();
        let h1 = thread::spawn(move || b1.take(a));
        let b2 = b.clone();
        let h2 = thread::spawn(move || {
            let ok = b2.insert(bb, tb);
            (ok, b2.take(bb))
        });
        assert_eq!(h1.join().unwrap(), Some(ta));
        let (ok, got) = h2.join().unwrap();
        assert!(ok, "one slot was free all along");
        assert_eq!(got, Some(tb));
        assert_eq!(b.len(), PROBE - 2);
    });
}

/// A sampled block's tag is published while another thread looks it up
/// (a free racing the allocating thread's insert, which a correct program
/// cannot do, or a lookup of a neighbour): the lookup finds nothing or the
/// whole tag, never a torn one.
#[test]
fn blocks_publish_vs_take() {
    model("blocks_publish_vs_take", || {
        let b = Arc::new(SampledBlocks::<8>::new());
        let ta = SampleTag::from_raw([0x5555, 0xaaaa]);
        let b1 = b.clone();
        let h1 = thread::spawn(move || assert!(b1.insert(0xa000, ta)));
        let b2 = b.clone();
        let h2 = thread::spawn(move || b2.take(0xa000));
        h1.join().unwrap();
        let got = h2.join().unwrap();
        assert!(got.is_none() || got == Some(ta), "{got:?}");
        if got.is_none() {
            assert_eq!(b.take(0xa000), Some(ta));
        }
        assert!(b.is_empty());
    });
}
