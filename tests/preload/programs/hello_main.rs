// A small crate built with `cargo build` (under LD_PRELOAD) and then run in
// the preload tests: collections, strings, threads and channels on the
// system allocator.
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::thread;

fn main() {
    let (tx, rx) = mpsc::channel();
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut x = t + 1;
                let mut m: HashMap<String, Vec<u64>> = HashMap::new();
                for i in 0..50_000u64 {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    m.entry(format!("k{}", (x >> 40) % 1000)).or_default().push(i);
                }
                let total: usize = m.values().map(Vec::len).sum();
                tx.send((t, m.len(), total)).unwrap();
            })
        })
        .collect();
    drop(tx);
    let mut results: Vec<_> = rx.iter().collect();
    for h in handles {
        h.join().unwrap();
    }
    results.sort();
    for r in &results {
        println!("thread {:?}", r);
    }
    let mut b = BTreeMap::new();
    let mut s = String::new();
    for i in 0..100_000u32 {
        s.push_str(&i.to_string());
        b.insert(i.wrapping_mul(2654435761) % 100_003, s.len());
    }
    let big: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 1 << (i % 22)]).collect();
    let sum: usize = big.iter().map(|v| v.len()).sum();
    println!("btree {} first {:?} last {:?} strlen {} vecs {}", b.len(), b.iter().next(), b.iter().next_back(), s.len(), sum);
}
