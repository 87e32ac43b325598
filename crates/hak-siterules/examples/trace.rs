//! Runs the synthetic trace of the tests (six call sites, 400 000
//! allocations, one in 64 sampled) through a site table and prints what
//! it learned: each site's counters and hint, the table's totals, and the
//! time of a lookup and of a recorded sample on this machine.
//!
//! ```text
//! cargo run --release -p hak-siterules --example trace
//! ```

#[path = "../tests/common/trace.rs"]
mod trace;

use std::hint::black_box;
use std::time::Instant;

use hak_siterules::{Hint, SampledBlocks, SiteReport, SiteTable};

fn main() {
    let table: SiteTable = SiteTable::new();
    let blocks: SampledBlocks = SampledBlocks::new();
    let r = trace::run(&table, &blocks, &trace::SITES, 400_000, 6, 12345);
    println!(
        "trace: {} allocations over {} ms, {} sampled, {} recorded (> 1 KiB), {} frees, {} reallocs",
        r.allocs, r.end_ms, r.sampled, r.recorded, r.frees, r.reallocs
    );
    println!();
    println!(
        "{:<10} {:<32} {:>7} {:>9} {:>6} {:>5} {:>6} {:>10}  hint",
        "site", "what", "samples", "mean", "young", "old", "grown", "live"
    );
    for s in &trace::SITES {
        match table.site(s.addr) {
            Some(x) => println!(
                "{:<#10x} {:<32} {:>7} {:>9} {:>6} {:>5} {:>6} {:>10}  {}",
                s.addr,
                s.what,
                x.counts.samples,
                x.counts.mean_size(),
                x.counts.young,
                x.counts.old,
                x.counts.grown,
                x.live_bytes,
                table.hint(s.addr, s.size).name()
            ),
            None => println!("{:<#10x} {:<32} (not recorded: {} B is at most 1 KiB)", s.addr, s.what, s.size),
        }
    }
    let st = table.stats();
    println!();
    println!(
        "table: {} of {} entries, {} samples, {} dropped, {} frees ({} young), {} growths; hints: {}",
        st.sites,
        st.capacity,
        st.samples,
        st.dropped,
        st.frees,
        st.young_frees,
        st.grows,
        Hint::ALL.iter().map(|h| format!("{} {}", h.name(), st.hints[*h as usize])).collect::<Vec<_>>().join(", ")
    );
    let mut top = [SiteReport::default(); 3];
    let n = table.top(&mut top);
    println!(
        "top {n} by samples: {}",
        top[..n].iter().map(|x| format!("{:#x} ({})", x.site, x.counts.samples)).collect::<Vec<_>>().join(", ")
    );

    // Costs on this machine (a warm table; one thread).
    const LOOKUPS: u32 = 10_000_000;
    let sites: Vec<usize> = trace::SITES.iter().map(|s| s.addr).collect();
    let start = Instant::now();
    let mut acc = 0u32;
    for i in 0..LOOKUPS {
        let s = sites[i as usize % 5];
        acc = acc.wrapping_add(table.hint(black_box(s), black_box(8192)) as u32);
    }
    let lookup = start.elapsed().as_nanos() as f64 / LOOKUPS as f64;
    let fresh: SiteTable = SiteTable::new();
    const RECORDS: u32 = 1_000_000;
    let start = Instant::now();
    for i in 0..RECORDS {
        let tag = fresh.record_alloc(black_box(sites[i as usize % 5]), 8192, i as u64);
        if let Some(tag) = tag {
            fresh.record_free(black_box(tag), i as u64 + 1);
        }
    }
    let record = start.elapsed().as_nanos() as f64 / RECORDS as f64;
    println!();
    println!("cost: hint() {lookup:.1} ns, record_alloc() + record_free() {record:.1} ns (checksum {acc})");
}
