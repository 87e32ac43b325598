//! `thread`: key destructors at thread exit, fork handlers, exit handlers,
//! thread identity.

use core::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};

use hak_os::thread;

static DESTROYED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn destroy(arg: *mut c_void) {
    // The value is the address of a counter to bump.
    // SAFETY: the tests set only addresses of static atomics as values.
    unsafe { (*(arg as *const AtomicUsize)).fetch_add(1, Ordering::SeqCst) };
    DESTROYED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn key_destructor_runs_at_thread_exit() {
    static MINE: AtomicUsize = AtomicUsize::new(0);
    let key = thread::key_create(destroy).expect("a key");
    assert_eq!(thread::Key::from_index(key.index()), key);
    assert!(thread::value(key).is_null());
    let t = std::thread::spawn(move || {
        assert!(thread::set_value(key, &MINE as *const AtomicUsize as *mut c_void));
        assert_eq!(thread::value(key), &MINE as *const AtomicUsize as *mut c_void);
        assert_eq!(MINE.load(Ordering::SeqCst), 0, "not before the thread exits");
    });
    t.join().unwrap();
    assert_eq!(MINE.load(Ordering::SeqCst), 1, "the destructor ran once, with the value");
    // A thread that set no value does not run it.
    std::thread::spawn(|| ()).join().unwrap();
    assert_eq!(MINE.load(Ordering::SeqCst), 1);
    // The main test thread's value is its own.
    assert!(thread::value(key).is_null());
}

#[test]
fn set_value_refuses_an_invalid_key() {
    assert!(!thread::set_value(thread::Key::from_index(1 << 20), core::ptr::null_mut()));
}

#[test]
fn ids_are_distinct_and_stable() {
    let me = thread::id();
    assert_ne!(me, 0);
    assert_eq!(me, thread::id());
    // SAFETY: pthread_self has no preconditions.
    assert_eq!(me, unsafe { libc::pthread_self() } as usize);
    let other = std::thread::spawn(thread::id).join().unwrap();
    assert_ne!(other, me);
}

static PREPARED: AtomicUsize = AtomicUsize::new(0);
static IN_PARENT: AtomicUsize = AtomicUsize::new(0);
static IN_CHILD: AtomicUsize = AtomicUsize::new(0);
extern "C" fn prepare() {
    PREPARED.fetch_add(1, Ordering::SeqCst);
}
extern "C" fn parent() {
    IN_PARENT.fetch_add(1, Ordering::SeqCst);
}
extern "C" fn child() {
    IN_CHILD.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn fork_handlers_run_on_both_sides() {
    assert!(thread::atfork(prepare, parent, child));
    // SAFETY: the child only reads an atomic and calls _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = IN_CHILD.load(Ordering::SeqCst) * 10 + PREPARED.load(Ordering::SeqCst).min(1);
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(code as i32) };
    }
    let mut status = 0;
    // SAFETY: waits for our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status));
    assert_eq!(libc::WEXITSTATUS(status), 11, "the child ran `child` once, after `prepare`");
    // (At least once: another test's child process may have been forked too.)
    assert!(PREPARED.load(Ordering::SeqCst) >= 1 && IN_PARENT.load(Ordering::SeqCst) >= 1);
    assert_eq!(IN_CHILD.load(Ordering::SeqCst), 0);
}

extern "C" fn at_exit() {
    hak_os::diag::write_bytes(b"hak-os: exit handler ran\n");
}

/// Child half of `exit_handler_runs_at_exit`.
#[test]
fn exit_child() {
    if std::env::var_os("HAK_OS_EXIT_CHILD").is_some() {
        assert!(thread::atexit(at_exit));
    }
}

#[test]
fn exit_handler_runs_at_exit() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "exit_child", "--test-threads=1"])
        .env("HAK_OS_EXIT_CHILD", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.matches("hak-os: exit handler ran\n").count(), 1, "{err}");
}
