//! Loom builds: the process-wide map used incidentally by the models of
//! other structures (slab segments, big blocks) is a std-locked hash map
//! that survives across executions and is invisible to loom. Models
//! that need a happens-before edge get it from the model's own handoff.

use std::collections::HashMap;
use std::sync::Mutex;

static MAP: Mutex<Option<HashMap<usize, usize>>> = Mutex::new(None);

pub fn lookup(p: usize) -> usize {
    let m = MAP.lock().unwrap_or_else(|e| e.into_inner());
    m.as_ref().and_then(|m| m.get(&(p >> super::SEGMENT_SHIFT)).copied()).unwrap_or(0)
}

pub fn set_range(base: usize, len: usize, value: usize) -> bool {
    let mut m = MAP.lock().unwrap_or_else(|e| e.into_inner());
    let m = m.get_or_insert_with(HashMap::new);
    if len == 0 {
        return true;
    }
    for i in (base >> super::SEGMENT_SHIFT)..=((base + len - 1) >> super::SEGMENT_SHIFT) {
        if value == 0 {
            m.remove(&i);
        } else {
            m.insert(i, value);
        }
    }
    true
}
