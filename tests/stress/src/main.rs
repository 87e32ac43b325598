//! Multi-threaded stress of `hakmem::HakMem` as the Rust global allocator.
//!
//! `hakmem-stress [SECONDS] [THREADS]` (defaults: 3 s, 4 threads).
//!
//! The worker threads form a ring: each builds messages — `Vec<u8>` grown
//! by pushes (realloc), `String`s, boxed slices, `HashMap`s, zeroed vectors,
//! `#[repr(align(64))]` / `#[repr(align(4096))]` boxes and raw blocks with
//! alignments up to 2 MiB — of sizes from 1 byte to 8 MiB, each filled with a
//! pattern derived from a seed, and sends them to the next thread over a
//! bounded channel. The receiver checks every byte, sometimes grows or shrinks
//! the data (realloc on a block allocated by another thread) and forwards it
//! again, or drops it (a cross-thread free). Now and then a worker starts a
//! short-lived thread whose allocations outlive it. Any corruption prints a
//! diagnostic and exits with status 1; success prints a summary line starting
//! with `hakmem-stress: OK` and exits 0.

use std::alloc::{GlobalAlloc, Layout};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static A: hakmem::HakMem = hakmem::HakMem;

const MAX_SIZE: usize = 8 << 20;
const MAX_HOPS: u32 = 4;
const CHANNEL_CAP: usize = 32;

/// Deterministic PRNG (splitmix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// 1 B .. 8 MiB, roughly log-uniform with large sizes rarer.
    fn size(&mut self) -> usize {
        let mut e = self.below(24) as u32;
        if e > 16 && self.below(6) != 0 {
            e = self.below(17) as u32;
        }
        let base = 1usize << e;
        (base + self.below(base as u64) as usize).clamp(1, MAX_SIZE)
    }
}

fn pat(seed: u64, i: usize) -> u8 {
    let w = (seed.wrapping_add((i / 8) as u64 + 1)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (w >> (8 * (i % 8))) as u8
}

fn fill(buf: &mut [u8], seed: u64) {
    let mut chunks = buf.chunks_exact_mut(8);
    let mut w = 0usize;
    for c in &mut chunks {
        let v = seed.wrapping_add(w as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        c.copy_from_slice(&v.to_le_bytes());
        w += 1;
    }
    let base = w * 8;
    for (j, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b = pat(seed, base + j);
    }
}

fn check(buf: &[u8], seed: u64, what: &str) {
    let mut chunks = buf.chunks_exact(8);
    let mut w = 0usize;
    for c in &mut chunks {
        let v = seed.wrapping_add(w as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        if c != v.to_le_bytes() {
            corrupt(what, buf.as_ptr(), buf.len(), w * 8 + (0..8).find(|&k| c[k] != pat(seed, w * 8 + k)).unwrap_or(0));
        }
        w += 1;
    }
    let base = w * 8;
    for (j, b) in chunks.remainder().iter().enumerate() {
        if *b != pat(seed, base + j) {
            corrupt(what, buf.as_ptr(), buf.len(), base + j);
        }
    }
}

fn corrupt(what: &str, p: *const u8, len: usize, at: usize) -> ! {
    eprintln!("hakmem-stress: FAIL: {what} at {p:?} ({len} bytes) corrupted at offset {at}");
    std::process::exit(1);
}

fn fail(msg: String) -> ! {
    eprintln!("hakmem-stress: FAIL: {msg}");
    std::process::exit(1);
}

#[repr(C, align(64))]
struct Line64([u8; 192]);
#[repr(C, align(4096))]
struct Page4K([u8; 4096]);

/// A block from `GlobalAlloc` with an explicit (large) alignment.
struct RawBlock {
    ptr: *mut u8,
    layout: Layout,
}
// SAFETY: RawBlock exclusively owns its allocation; nothing is shared.
unsafe impl Send for RawBlock {}
impl RawBlock {
    fn new(size: usize, align: usize, seed: u64) -> RawBlock {
        let layout = Layout::from_size_align(size, align).expect("layout");
        // SAFETY: size is non-zero (callers pass >= 1).
        let ptr = unsafe { A.alloc(layout) };
        if ptr.is_null() {
            fail(format!("alloc({size}, align {align}) returned null"));
        }
        if !(ptr as usize).is_multiple_of(align) {
            fail(format!("alloc({size}, align {align}) returned misaligned {ptr:?}"));
        }
        let mut b = RawBlock { ptr, layout };
        fill(b.bytes_mut(), seed);
        b
    }
    fn bytes(&self) -> &[u8] {
        // SAFETY: ptr points to layout.size() initialised bytes we own.
        unsafe { std::slice::from_raw_parts(self.ptr, self.layout.size()) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and we have &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
    /// Reallocates keeping the alignment; returns the preserved prefix length.
    fn resize(&mut self, new_size: usize) -> usize {
        let keep = new_size.min(self.layout.size());
        // SAFETY: ptr/layout describe a live allocation from A; new_size >= 1
        // and, rounded up to the alignment, does not overflow isize.
        let p = unsafe { A.realloc(self.ptr, self.layout, new_size) };
        if p.is_null() {
            fail(format!("realloc to {new_size} (align {}) returned null", self.layout.align()));
        }
        if !(p as usize).is_multiple_of(self.layout.align()) {
            fail(format!("realloc to {new_size} lost alignment {}: {p:?}", self.layout.align()));
        }
        self.ptr = p;
        self.layout = Layout::from_size_align(new_size, self.layout.align()).expect("layout");
        keep
    }
}
impl Drop for RawBlock {
    fn drop(&mut self) {
        // SAFETY: allocated by A with this layout.
        unsafe { A.dealloc(self.ptr, self.layout) }
    }
}

enum Payload {
    Bytes(Vec<u8>),
    Text(String),
    Words(Box<[u64]>),
    Map(HashMap<u64, String>),
    Zeroed(Vec<u8>),
    Line(Box<Line64>),
    Page(Box<Page4K>),
    Raw(RawBlock),
}

struct Msg {
    seed: u64,
    hops: u32,
    payload: Payload,
}

#[derive(Default)]
struct Stats {
    built: AtomicU64,
    received: AtomicU64,
    verified_bytes: AtomicU64,
    forwarded: AtomicU64,
    full: AtomicU64,
    aligned: AtomicU64,
    reallocs: AtomicU64,
    churn_threads: AtomicU64,
}

fn text_for(seed: u64, len: usize) -> String {
    // Built by appends so the String reallocates as it grows.
    let mut s = String::new();
    let mut i = 0u64;
    while s.len() < len {
        let piece = format!("{:x}-", seed.wrapping_mul(31).wrapping_add(i));
        s.push_str(&piece);
        i += 1;
    }
    s.truncate(len);
    s
}

fn build(rng: &mut Rng, st: &Stats) -> Msg {
    let seed = rng.next();
    let kind = rng.below(16);
    let payload = match kind {
        0..=4 => {
            let n = rng.size();
            if rng.below(4) == 0 {
                // grown one push at a time (many reallocs)
                let mut v = Vec::new();
                let n = n.min(256 << 10);
                for i in 0..n {
                    v.push(pat(seed, i));
                }
                Payload::Bytes(v)
            } else {
                let mut v = vec![0u8; n];
                fill(&mut v, seed);
                Payload::Bytes(v)
            }
        }
        5 | 6 => Payload::Text(text_for(seed, rng.size().min(1 << 20))),
        7 => {
            let n = (rng.size() / 8).max(1);
            Payload::Words((0..n as u64).map(|i| seed ^ i.wrapping_mul(0x2545_F491_4F6C_DD1D)).collect())
        }
        8 => {
            let n = rng.below(2000) as usize;
            let mut m = HashMap::new();
            for i in 0..n as u64 {
                m.insert(seed.wrapping_add(i), text_for(seed ^ i, (i % 97) as usize));
            }
            Payload::Map(m)
        }
        9 => {
            let v = vec![0u8; rng.size()];
            Payload::Zeroed(v)
        }
        10 => {
            let mut b = Box::new(Line64([0; 192]));
            fill(&mut b.0, seed);
            st.aligned.fetch_add(1, Ordering::Relaxed);
            Payload::Line(b)
        }
        11 | 12 => {
            let mut b = Box::new(Page4K([0; 4096]));
            fill(&mut b.0, seed);
            st.aligned.fetch_add(1, Ordering::Relaxed);
            Payload::Page(b)
        }
        _ => {
            let align = 1usize << (5 + rng.below(17)); // 32 B .. 2 MiB
            let size = 1 + rng.below(3 * align.min(1 << 20) as u64) as usize;
            st.aligned.fetch_add(1, Ordering::Relaxed);
            Payload::Raw(RawBlock::new(size, align, seed))
        }
    };
    st.built.fetch_add(1, Ordering::Relaxed);
    Msg { seed, hops: 0, payload }
}

/// Checks every byte of the message; returns the number of bytes checked.
fn verify(m: &Msg) -> usize {
    let seed = m.seed;
    match &m.payload {
        Payload::Bytes(v) => {
            check(v, seed, "Vec<u8>");
            v.len()
        }
        Payload::Text(s) => {
            let want = text_for(seed, s.len());
            if *s != want {
                let at = s.bytes().zip(want.bytes()).position(|(a, b)| a != b).unwrap_or(0);
                corrupt("String", s.as_ptr(), s.len(), at);
            }
            s.len()
        }
        Payload::Words(w) => {
            for (i, x) in w.iter().enumerate() {
                if *x != seed ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D) {
                    corrupt("Box<[u64]>", w.as_ptr().cast(), w.len() * 8, i * 8);
                }
            }
            w.len() * 8
        }
        Payload::Map(m) => {
            let mut n = 0;
            for (k, v) in m {
                let i = k.wrapping_sub(seed);
                if i >= m.len() as u64 || *v != text_for(seed ^ i, (i % 97) as usize) {
                    fail(format!("HashMap entry {k} corrupted"));
                }
                n += v.len() + 8;
            }
            n
        }
        Payload::Zeroed(v) => {
            if let Some(at) = v.iter().position(|&b| b != 0) {
                corrupt("zeroed Vec (alloc_zeroed)", v.as_ptr(), v.len(), at);
            }
            v.len()
        }
        Payload::Line(b) => {
            if !(&**b as *const Line64 as usize).is_multiple_of(64) {
                fail("Box<align(64)> misaligned".into());
            }
            check(&b.0, seed, "Box<align(64)>");
            192
        }
        Payload::Page(b) => {
            if !(&**b as *const Page4K as usize).is_multiple_of(4096) {
                fail("Box<align(4096)> misaligned".into());
            }
            check(&b.0, seed, "Box<align(4096)>");
            4096
        }
        Payload::Raw(r) => {
            if !(r.ptr as usize).is_multiple_of(r.layout.align()) {
                fail(format!("raw block lost alignment {}", r.layout.align()));
            }
            check(r.bytes(), seed, "aligned raw block");
            r.layout.size()
        }
    }
}

/// Changes the message's size in the receiving thread (realloc of a block
/// another thread allocated), keeping it verifiable.
fn mutate(m: &mut Msg, rng: &mut Rng, st: &Stats) {
    let seed = m.seed;
    match &mut m.payload {
        Payload::Bytes(v) => {
            let old = v.len();
            let new = if rng.below(2) == 0 { (old * 2 + 1).min(MAX_SIZE) } else { old / 3 };
            if new > old {
                v.reserve_exact(new - old); // realloc of a block from another thread
                check(&v[..old], seed, "Vec<u8> after realloc");
                for i in old..new.min(old + 4096) {
                    v.push(pat(seed, i));
                }
                v.resize(new, 0);
                fill(v, seed);
            } else {
                v.truncate(new);
                v.shrink_to_fit();
            }
            st.reallocs.fetch_add(1, Ordering::Relaxed);
        }
        Payload::Text(s) => {
            let target = (s.len() + 1) * 3 / 2;
            *s = {
                let mut t = std::mem::take(s);
                // extend with the same deterministic continuation
                let want = text_for(seed, target.min(1 << 20));
                t.push_str(&want[t.len().min(want.len())..]);
                t
            };
            st.reallocs.fetch_add(1, Ordering::Relaxed);
        }
        Payload::Zeroed(v) => {
            v.resize(v.len() + 1 + rng.below(100_000) as usize, 0);
            st.reallocs.fetch_add(1, Ordering::Relaxed);
        }
        Payload::Raw(r) => {
            let old = r.layout.size();
            let new = if rng.below(2) == 0 { old * 2 + 17 } else { old / 2 + 1 };
            let keep = r.resize(new.min(MAX_SIZE));
            check(&r.bytes()[..keep], seed, "aligned raw block after realloc");
            fill(r.bytes_mut(), seed);
            st.reallocs.fetch_add(1, Ordering::Relaxed);
        }
        Payload::Map(mm) => {
            // remove some entries, keep the rest verifiable
            let n = mm.len() as u64;
            mm.retain(|k, _| k.wrapping_sub(seed) < n / 2);
            mm.shrink_to_fit();
        }
        _ => {}
    }
}

/// A short-lived thread whose allocations are returned to (and freed by)
/// the spawning thread after it has exited.
fn churn(seed: u64, st: &Stats) {
    let h = std::thread::spawn(move || {
        let mut rng = Rng(seed);
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        for i in 0..64u64 {
            let n = rng.size().min(2 << 20);
            let mut v = vec![0u8; n];
            fill(&mut v, seed ^ i);
            if i % 4 == 0 {
                out.push((seed ^ i, v));
            } else {
                scratch.push(v);
            }
        }
        drop(scratch);
        out
    });
    let out = h.join().unwrap_or_else(|_| fail("churn thread panicked".into()));
    for (s, v) in &out {
        check(v, *s, "block from an exited thread");
    }
    st.churn_threads.fetch_add(1, Ordering::Relaxed);
}

fn worker(id: usize, tx: SyncSender<Msg>, rx: Receiver<Msg>, deadline: Instant, st: Arc<Stats>) {
    let mut rng = Rng(0x5EED_0000 + id as u64 * 7919);
    let mut local: Vec<Msg> = Vec::new();
    let mut iter = 0u64;
    let handle = |mut m: Msg, rng: &mut Rng, tx: &SyncSender<Msg>, local: &mut Vec<Msg>| {
        let n = verify(&m);
        st.received.fetch_add(1, Ordering::Relaxed);
        st.verified_bytes.fetch_add(n as u64, Ordering::Relaxed);
        if m.hops < MAX_HOPS && rng.below(2) == 0 {
            if rng.below(2) == 0 {
                mutate(&mut m, rng, &st);
                verify(&m);
            }
            m.hops += 1;
            match tx.try_send(m) {
                Ok(()) => {
                    st.forwarded.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Full(m)) => {
                    st.full.fetch_add(1, Ordering::Relaxed);
                    drop(m);
                }
                Err(TrySendError::Disconnected(m)) => drop(m),
            }
        } else if rng.below(8) == 0 && local.len() < 16 {
            local.push(m); // keep a while, free later
        }
    };
    while Instant::now() < deadline {
        iter += 1;
        let m = build(&mut rng, &st);
        match tx.try_send(m) {
            Ok(()) => {}
            Err(TrySendError::Full(m)) | Err(TrySendError::Disconnected(m)) => {
                st.full.fetch_add(1, Ordering::Relaxed);
                verify(&m);
            }
        }
        // Empty or Disconnected: nothing more to take now.
        while let Ok(m) = rx.try_recv() {
            handle(m, &mut rng, &tx, &mut local);
        }
        if local.len() >= 16 || rng.below(32) == 0 {
            for m in local.drain(..) {
                verify(&m);
            }
        }
        if iter.is_multiple_of(200) {
            churn(rng.next(), &st);
        }
    }
    // Stop sending; drain until every predecessor has stopped too.
    drop(tx);
    for m in rx.iter() {
        let n = verify(&m);
        st.received.fetch_add(1, Ordering::Relaxed);
        st.verified_bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
    for m in local.drain(..) {
        verify(&m);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: f64 = match args.get(1) {
        Some(s) => {
            s.parse().unwrap_or_else(|_| fail(format!("bad SECONDS {s:?}; usage: hakmem-stress [SECONDS] [THREADS]")))
        }
        None => 3.0,
    };
    let threads: usize = match args.get(2) {
        Some(s) => {
            s.parse().unwrap_or_else(|_| fail(format!("bad THREADS {s:?}; usage: hakmem-stress [SECONDS] [THREADS]")))
        }
        None => 4,
    };
    if threads < 2 {
        fail("THREADS must be at least 2".into());
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let st = Arc::new(Stats::default());

    // Ring: worker i sends to worker (i + 1) % n.
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..threads {
        let (tx, rx) = sync_channel::<Msg>(CHANNEL_CAP);
        senders.push(tx);
        receivers.push(Some(rx));
    }
    let mut handles = Vec::new();
    for (i, tx) in senders.into_iter().enumerate() {
        let rx = receivers[(i + 1) % threads].take().expect("receiver");
        let st = Arc::clone(&st);
        handles.push(
            std::thread::Builder::new()
                .name(format!("stress-{}", (i + 1) % threads))
                .spawn(move || worker((i + 1) % threads, tx, rx, deadline, st))
                .expect("spawn worker"),
        );
    }
    for h in handles {
        if h.join().is_err() {
            fail("a worker thread panicked".into());
        }
    }
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "hakmem-stress: OK threads={threads} seconds={:.1} built={} received={} forwarded={} \
         channel_full={} aligned={} reallocs={} churn_threads={} verified_mib={}",
        start.elapsed().as_secs_f64(),
        g(&st.built),
        g(&st.received),
        g(&st.forwarded),
        g(&st.full),
        g(&st.aligned),
        g(&st.reallocs),
        g(&st.churn_threads),
        g(&st.verified_bytes) >> 20
    );
}
