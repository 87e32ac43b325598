//! The fault reporter of secure mode: a `SIGSEGV`/`SIGBUS` handler that
//! names the faults hakmem caused on purpose (a guard page, a quarantined
//! freed block) and leaves every other fault to whoever handled it before.
//!
//! [`install_fault_reporter`] is called once, by the router's secure mode
//! only (the default mode installs nothing). The handler is async-signal
//! safe: it calls the classifier it was given (which must only read atomics
//! and records that are never unmapped: no lock, no allocation), writes one
//! line with `write(2)` ([`diag::fatal`](crate::diag::fatal)) and aborts.
//! A fault the classifier does not claim goes to the disposition that was
//! in place when the reporter was installed: a handler of the program's is
//! called (chained, with the same arguments); otherwise the old disposition
//! (`SIG_DFL`) is restored and the handler returns, so the faulting
//! instruction runs again and the fault kills the process as it would have
//! without hakmem. A handler the program installs later simply replaces
//! this one (hakmem's faults then reach the program as plain faults).

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Decides whether a faulting address is one of hakmem's traps: `Some`
/// (the message, printed as `hakmem: <message> 0x<addr>`) or `None`.
pub type Classify = fn(usize) -> Option<&'static str>;

/// The classifier, as an address (0: none).
static CLASSIFY: AtomicUsize = AtomicUsize::new(0);
/// Whether the reporter was installed (it is installed at most once).
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The dispositions in place before ours: `SIGSEGV`, then `SIGBUS`.
struct Previous(UnsafeCell<[MaybeUninit<libc::sigaction>; 2]>);
// SAFETY: written once by the installing thread before the handler is
// installed (which publishes it), read only afterwards.
unsafe impl Sync for Previous {}
static PREVIOUS: Previous = Previous(UnsafeCell::new([MaybeUninit::uninit(), MaybeUninit::uninit()]));

const SIGNALS: [i32; 2] = [libc::SIGSEGV, libc::SIGBUS];

/// Installs the fault reporter for `SIGSEGV` and `SIGBUS` with `classify`
/// (see the module). Returns false when it was already installed or the
/// kernel refused; a signal whose old disposition could not be read keeps
/// it.
pub fn install_fault_reporter(classify: Classify) -> bool {
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return false;
    }
    CLASSIFY.store(classify as usize, Ordering::Release);
    let mut ok = true;
    for (i, &sig) in SIGNALS.iter().enumerate() {
        // SAFETY: zeroed sigaction is a valid value; `sa_mask` is then
        // filled by sigemptyset; PREVIOUS is written before the handler
        // that reads it exists (the sigaction call orders the two).
        unsafe {
            let mut act: libc::sigaction = core::mem::zeroed();
            act.sa_sigaction = handler as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut act.sa_mask);
            let old = (*PREVIOUS.0.get()).as_mut_ptr().add(i);
            (*old).write(core::mem::zeroed());
            ok &= libc::sigaction(sig, &act, (*old).as_mut_ptr()) == 0;
        }
    }
    ok
}

/// The handler: a claimed fault is reported (abort); any other goes to the
/// previous disposition.
extern "C" fn handler(sig: i32, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = if info.is_null() { 0 } else { unsafe { (*info).si_addr() as usize } };
    let f = CLASSIFY.load(Ordering::Acquire);
    if f != 0 {
        // SAFETY: only ever stored from a `Classify`.
        let classify: Classify = unsafe { core::mem::transmute::<usize, Classify>(f) };
        if let Some(what) = classify(addr) {
            crate::diag::fatal(what, addr);
        }
    }
    let i = if sig == libc::SIGBUS { 1 } else { 0 };
    // SAFETY: PREVIOUS was written before this handler was installed.
    unsafe {
        let old = (*PREVIOUS.0.get()).as_ptr().add(i);
        let old = &*(*old).as_ptr();
        let h = old.sa_sigaction;
        if h == libc::SIG_DFL || h == libc::SIG_IGN || h == handler as *const () as usize {
            // Back to the old disposition (a synchronous fault cannot be
            // ignored: SIG_IGN becomes the default); returning re-runs the
            // faulting access, which now kills the process.
            let mut dfl: libc::sigaction = core::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigemptyset(&mut dfl.sa_mask);
            libc::sigaction(sig, &dfl, core::ptr::null_mut());
        } else if old.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(i32, *mut libc::siginfo_t, *mut libc::c_void) = core::mem::transmute(h);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(i32) = core::mem::transmute(h);
            f(sig);
        }
    }
}
