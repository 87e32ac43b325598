//! Loom models of hak-os's shared structures (`cargo xtask loom`): the
//! segment map (table creation race, publication order, register / lookup /
//! clear), the spin lock, and the metadata arena. Each builds fresh
//! instances of the shipped types (`SegMap::with_entries`, `SpinLock`,
//! `MetaArena`) per execution.

use std::sync::Arc;

use loom::thread;

use crate::lock::SpinLock;
use crate::meta::MetaArena;
use crate::segmap::SegMap;
use crate::sync::{AtomicUsize, Ordering};
use crate::SEGMENT_SHIFT;

use crate::sync::loom_model as model;

/// Address of segment slot `i` (the map never dereferences it).
fn seg(i: usize) -> usize {
    i << SEGMENT_SHIFT
}

/// Two threads register the first segments of a fresh map at once (both may
/// create a table; one CAS wins, the loser frees its table and uses the
/// winner's) while a third looks addresses up. Checks: no registration is
/// lost to a losing table; a lookup never follows an unpublished table
/// (it returns 0 or the entry); after the joins both entries are visible.
#[test]
fn segmap_create_race() {
    model("segmap_create_race", || {
        let m = Arc::new(SegMap::with_entries(4));
        let (m1, m2, m3) = (m.clone(), m.clone(), m.clone());
        let t1 = thread::spawn(move || assert!(m1.set_range(seg(1), 1 << SEGMENT_SHIFT, 0x1001)));
        let t2 = thread::spawn(move || assert!(m2.set_range(seg(2), 1 << SEGMENT_SHIFT, 0x2001)));
        let t3 = thread::spawn(move || {
            let v = m3.lookup(seg(1) + 123);
            assert!(v == 0 || v == 0x1001, "lookup saw {v:#x}");
            assert_eq!(m3.lookup(seg(3)), 0);
        });
        t1.join().unwrap();
        t2.join().unwrap();
        t3.join().unwrap();
        assert_eq!(m.lookup(seg(1)), 0x1001);
        assert_eq!(m.lookup(seg(2) + (1 << SEGMENT_SHIFT) - 1), 0x2001);
        assert!(!m.set_range(seg(4), 1 << SEGMENT_SHIFT, 0x4001), "beyond the map");
    });
}

/// Growth: the first registration (slot 6 of 8) makes a table covering
/// slots 5..8 (margin 1); a second thread then registers slot 1, which
/// grows the table downwards (a new table, entries copied, published before
/// the new bound) while a third thread, handed an address of slot 6,
/// looks it up again and again. Checks: the slot-6 entry is never lost
/// (every lookup of a handed-over pointer sees it, old table or new), a
/// lookup of slot 1 returns 0 or its entry, never garbage; after the joins
/// both are visible and slots 0 and 4 (covered, never registered) are 0.
#[test]
fn segmap_growth_vs_lookup() {
    model("segmap_growth_vs_lookup", || {
        let m = Arc::new(SegMap::with_margin(8, 1));
        assert!(m.set_range(seg(6), 1 << SEGMENT_SHIFT, 0x6001));
        assert_eq!(m.low(), 5);
        let (m1, m2) = (m.clone(), m.clone());
        let t1 = thread::spawn(move || assert!(m1.set_range(seg(1), 1 << SEGMENT_SHIFT, 0x1001)));
        let t2 = thread::spawn(move || {
            for _ in 0..2 {
                assert_eq!(m2.lookup(seg(6) + 8), 0x6001, "a registered segment was lost");
                let v = m2.lookup(seg(1));
                assert!(v == 0 || v == 0x1001, "lookup saw {v:#x}");
            }
        });
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(m.low(), 0);
        assert_eq!(m.lookup(seg(1) + 64), 0x1001);
        assert_eq!(m.lookup(seg(6)), 0x6001);
        assert_eq!((m.lookup(seg(4)), m.lookup(seg(0))), (0, 0));
        // A clear reaches every table.
        m.clear_range(seg(6), 1 << SEGMENT_SHIFT);
        assert_eq!(m.lookup(seg(6)), 0);
    });
}

/// The publication protocol as the allocator uses it: a thread registers a
/// segment (creating the table) and hands an address in it to another
/// thread through a Release/Acquire hand-off (as a user passes a pointer);
/// the receiver's lookup must see the entry, whatever the table/limit
/// publication order did. Then the receiver hands it back, the owner clears
/// the range, and lookups return 0. (`init` and `set_range` both take the
/// map's writers' lock: their race is the spin lock's model.)
#[test]
fn segmap_publish_lookup_clear() {
    model("segmap_publish_lookup_clear", || {
        let m = Arc::new(SegMap::with_entries(4));
        let slot = Arc::new(AtomicUsize::new(0));
        let back = Arc::new(AtomicUsize::new(0));
        let (m1, s1, b1) = (m.clone(), slot.clone(), back.clone());
        let t1 = thread::spawn(move || {
            assert!(m1.set_range(seg(2), 1 << SEGMENT_SHIFT, 0x2002));
            s1.store(seg(2) + 64, Ordering::Release);
            while b1.load(Ordering::Acquire) == 0 {
                thread::yield_now();
            }
            m1.clear_range(seg(2), 1 << SEGMENT_SHIFT);
            assert_eq!(m1.lookup(seg(2) + 64), 0);
        });
        let p = loop {
            let p = slot.load(Ordering::Acquire);
            if p != 0 {
                break p;
            }
            thread::yield_now();
        };
        assert_eq!(m.lookup(p), 0x2002, "a published segment is not found");
        back.store(1, Ordering::Release);
        t1.join().unwrap();
        assert_eq!(m.lookup(p), 0);
    });
}

/// Mutual exclusion and publication of the spin lock (loom's cell checks
/// every access to the protected value against the lock's orderings): two
/// threads each increment a counter twice under the lock; none is lost.
/// (Two contenders: with three, loom's bounded scheduler can livelock two
/// yielding spinners while the preempted holder never runs again.)
#[test]
fn spinlock_mutual_exclusion() {
    model("spinlock_mutual_exclusion", || {
        let l = Arc::new(SpinLock::new(0usize));
        let l1 = l.clone();
        let t = thread::spawn(move || {
            *l1.lock() += 1;
            *l1.lock() += 1;
        });
        thread::yield_now();
        *l.lock() += 1;
        *l.lock() += 1;
        t.join().unwrap();
        assert_eq!(*l.lock(), 4);
    });
}

/// The metadata arena: two threads allocate and free records of the same
/// size concurrently (one recycles a record another thread freed). Checks:
/// no record is handed out twice, records come back zeroed.
#[test]
fn meta_arena_alloc_free() {
    model("meta_arena_alloc_free", || {
        let a = Arc::new(MetaArena::new());
        let first = a.alloc(128) as usize;
        let a1 = a.clone();
        let t = thread::spawn(move || {
            // SAFETY: `first` was allocated by the main thread and handed
            // to us at spawn; nobody else uses it.
            unsafe {
                *(first as *mut u64).add(3) = 0xdead;
                a1.free(first as *mut u8, 128);
            }
            let r = a1.alloc(128) as usize;
            // SAFETY: a fresh record of 128 bytes.
            assert_eq!(unsafe { *(r as *const u64).add(3) }, 0, "recycled record not zeroed");
            r
        });
        let mine = a.alloc(128) as usize;
        let theirs = t.join().unwrap();
        assert_ne!(mine, theirs, "record handed out twice");
        assert!(!(mine == 0 || theirs == 0));
        // SAFETY: both records are ours and unused.
        unsafe {
            a.free(mine as *mut u8, 128);
            a.free(theirs as *mut u8, 128);
        }
        drop(a);
    });
}
