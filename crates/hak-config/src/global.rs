//! The process-wide configuration: parsed from the environment once, on
//! first use, without allocating; reports go to stderr through `hak_os::diag`.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, Ordering};

use crate::config::{Config, LINE_MAX};
use crate::out::Out;
use crate::parse::parse_with;

const UNINIT: u8 = 0;
const BUSY: u8 = 1;
const READY: u8 = 2;
/// A waiter gave up on a parse that never finished (e.g. `fork` in the middle of
/// it): later callers return [`Config::DEFAULT`] at once, until the parse finishes.
const GAVE_UP: u8 = 3;
/// Spins a caller waits on `BUSY` before falling back to the default config.
const SPIN_LIMIT: u32 = 1 << 20;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static SLOT: Slot = Slot(UnsafeCell::new(Config::DEFAULT));
static FALLBACK: Config = Config::DEFAULT;

struct Slot(UnsafeCell<Config>);

// SAFETY: SLOT is written only by the one thread that moved STATE from UNINIT to
// BUSY, before its Release store of READY; it is read only after an Acquire load
// of READY. No reference to it exists while it is written.
unsafe impl Sync for Slot {}

/// The process-wide configuration, parsed from the environment on first use.
///
/// Concurrent first callers spin until the parse is done. A caller that waits
/// more than ~1M spins (parsing never takes that long; it would mean the parsing
/// thread is gone or re-entered) gets [`Config::DEFAULT`] instead of deadlocking.
/// Malformed values are reported once on stderr; with `HAKMEM_VERBOSE=1` the
/// resolved configuration is printed once.
#[inline]
pub fn get() -> &'static Config {
    if STATE.load(Ordering::Acquire) == READY {
        // SAFETY: READY was stored (Release) after SLOT's last write.
        return unsafe { &*SLOT.0.get() };
    }
    get_slow()
}

#[cold]
fn get_slow() -> &'static Config {
    if STATE.compare_exchange(UNINIT, BUSY, Ordering::Acquire, Ordering::Acquire).is_ok() {
        let config = parse_with(getenv, |rejected| {
            let mut buf = [0u8; LINE_MAX];
            let n = rejected.render(&mut buf);
            write_line(buf.get(..n).unwrap_or(&[]));
        });
        // SAFETY: we won UNINIT -> BUSY, so we are the only writer, and no reader
        // looks at SLOT before the READY store below.
        unsafe { *SLOT.0.get() = config };
        STATE.store(READY, Ordering::Release);
        if config.tunables.verbose {
            let mut buf = [0u8; LINE_MAX + 8];
            let mut out = Out::new(&mut buf);
            out.str("hakmem: ");
            let n = out.len;
            let m = buf.get_mut(n..).map_or(0, |rest| config.render(rest));
            write_line(buf.get(..n + m).unwrap_or(&[]));
        }
    }
    let mut spins = 0u32;
    loop {
        match STATE.load(Ordering::Acquire) {
            // SAFETY: as in `get`.
            READY => return unsafe { &*SLOT.0.get() },
            GAVE_UP => return &FALLBACK,
            _ if spins >= SPIN_LIMIT => {
                // Fails harmlessly if the parse has just finished (READY).
                let _ = STATE.compare_exchange(BUSY, GAVE_UP, Ordering::AcqRel, Ordering::Acquire);
            }
            _ => {
                spins += 1;
                core::hint::spin_loop();
            }
        }
    }
}

/// Renders the process-wide configuration line ([`Config::render`] of [`get`]) into
/// `buf`; returns the bytes written.
pub fn write_config(buf: &mut [u8]) -> usize {
    get().render(buf)
}

/// `getenv` for a variable name without its NUL (names up to 63 bytes).
fn getenv(name: &[u8]) -> Option<&'static [u8]> {
    let mut key = [0u8; 64];
    if name.len() >= key.len() {
        return None;
    }
    key.iter_mut().zip(name).for_each(|(dst, &src)| *dst = src);
    // `key` is zero-filled and longer than `name`: it holds a NUL.
    let key = core::ffi::CStr::from_bytes_until_nul(&key).ok()?;
    // SAFETY: the value stays valid until the environment is modified; we
    // only read it while parsing, and `Config` keeps no reference to it.
    unsafe { hak_os::env::getenv(key) }
}

/// Writes `msg` and a newline to stderr, ignoring errors.
fn write_line(msg: &[u8]) {
    hak_os::diag::write_bytes(msg);
    hak_os::diag::write_bytes(b"\n");
}
