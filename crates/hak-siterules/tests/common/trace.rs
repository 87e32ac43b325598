//! A synthetic allocation trace driven through the crate the way the
//! allocator drives it: every allocation ticks a [`Sampler`]; a sampled
//! one above 1 KiB is recorded and its tag kept in a [`SampledBlocks`] by
//! (simulated) address; its reallocs and its free are reported when they
//! fall due. Shared by the tests and `examples/trace.rs`.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use hak_siterules::{SampledBlocks, Sampler, SiteTable, HINT_MIN_SIZE};

/// One call site of the trace.
#[derive(Clone, Copy, Debug)]
pub struct Site {
    /// Its return address.
    pub addr: usize,
    /// What it is (for printing).
    pub what: &'static str,
    /// Size of its blocks at allocation.
    pub size: usize,
    /// Lifetime of its blocks in ms (`u64::MAX`: never freed).
    pub life_ms: u64,
    /// Times `realloc` doubles each block during its life.
    pub grows: u32,
    /// Relative share of the allocations.
    pub weight: u32,
}

/// The trace of the crate's tests: what each site is, and the hint it
/// must earn is in the test.
pub const SITES: [Site; 6] = [
    Site {
        addr: 0x40_1000,
        what: "2 MiB buffers kept for the run",
        size: 2 << 20,
        life_ms: u64::MAX,
        grows: 0,
        weight: 1,
    },
    Site { addr: 0x40_2a40, what: "64 KiB vectors grown 3 times", size: 64 << 10, life_ms: 40, grows: 3, weight: 2 },
    Site { addr: 0x40_3318, what: "4 KiB scratch, freed at once", size: 4 << 10, life_ms: 1, grows: 0, weight: 10 },
    Site { addr: 0x40_4c00, what: "8 KiB records kept 2 s", size: 8 << 10, life_ms: 2000, grows: 0, weight: 2 },
    Site { addr: 0x40_5e08, what: "8 KiB messages, 5 ms", size: 8 << 10, life_ms: 5, grows: 0, weight: 10 },
    Site { addr: 0x40_6f20, what: "64 B nodes (never recorded)", size: 64, life_ms: 10, grows: 0, weight: 20 },
];

/// A due event: (time, sequence, address, `Some(new size)` for a realloc,
/// `None` for the free).
type Due = (u64, u64, usize, Option<usize>);

/// What a run did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Run {
    /// Allocations made.
    pub allocs: u64,
    /// Allocations the sampler picked.
    pub sampled: u64,
    /// Sampled allocations recorded (above 1 KiB, room in both tables).
    pub recorded: u64,
    /// Frees reported.
    pub frees: u64,
    /// Reallocs reported.
    pub reallocs: u64,
    /// The clock at the end (ms).
    pub end_ms: u64,
}

/// Runs `ops` allocations over `sites` (100 per simulated ms), sampling
/// one in 2^`shift`, choosing sites by weight with a seeded xorshift.
/// Blocks still alive at the end stay alive (their tags stay in `blocks`).
pub fn run<const N: usize, const M: usize>(
    table: &SiteTable<N>,
    blocks: &SampledBlocks<M>,
    sites: &[Site],
    ops: u64,
    shift: u32,
    seed: u32,
) -> Run {
    let mut sampler = Sampler::new(shift, seed);
    let mut rng = seed.max(1);
    let total: u32 = sites.iter().map(|s| s.weight).sum();
    let mut due: BinaryHeap<Reverse<Due>> = BinaryHeap::new();
    let mut next_addr = 0x7f00_0000_0000usize;
    let mut r = Run::default();
    for op in 0..ops {
        let now = op / 100;
        while let Some(&Reverse((t, _, addr, realloc))) = due.peek() {
            if t > now {
                break;
            }
            due.pop();
            let mut tag = blocks.take(addr).expect("a due block is tracked");
            match realloc {
                Some(new) => {
                    table.record_realloc(&mut tag, new);
                    assert!(blocks.insert(addr, tag), "room for the block just taken");
                    r.reallocs += 1;
                }
                None => {
                    table.record_free(tag, now);
                    r.frees += 1;
                }
            }
        }
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let mut pick = rng % total;
        let site = sites.iter().find(|s| {
            let hit = pick < s.weight;
            pick = pick.saturating_sub(s.weight);
            hit
        });
        let site = site.expect("weights cover the range");
        r.allocs += 1;
        if !sampler.tick() {
            continue;
        }
        r.sampled += 1;
        if site.size <= HINT_MIN_SIZE {
            continue;
        }
        let Some(tag) = table.record_alloc(site.addr, site.size, now) else { continue };
        next_addr += 1 << 12;
        if !blocks.insert(next_addr, tag) {
            table.forget(tag);
            continue;
        }
        r.recorded += 1;
        let seq = op;
        for g in 1..=site.grows as u64 {
            let at = now + site.life_ms.saturating_mul(g) / (site.grows as u64 + 1);
            due.push(Reverse((at, seq, next_addr, Some(site.size << g))));
        }
        if site.life_ms != u64::MAX {
            due.push(Reverse((now + site.life_ms, seq, next_addr, None)));
        }
    }
    r.end_ms = ops / 100;
    r
}
