//! Runs the `hakmem-stress` binary (hakmem::HakMem as #[global_allocator])
//! for a bounded time, so that `cargo test --workspace` exercises the Rust
//! global-allocator path: it must exit 0 and report `hakmem-stress: OK`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn stress_runs_clean() {
    let exe = env!("CARGO_BIN_EXE_hakmem-stress");
    let mut child = Command::new(exe)
        .args(["2", "4"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hakmem-stress");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let reader_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "hakmem-stress did not finish within 120 s (deadlock?); stderr:\n{}",
                reader_err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = reader_out.join().unwrap_or_default();
    let stderr = reader_err.join().unwrap_or_default();
    assert!(status.success(), "hakmem-stress failed ({status}):\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.starts_with("hakmem-stress: OK "), "missing summary line:\nstdout:\n{stdout}\nstderr:\n{stderr}");
    eprintln!("{stdout}");
}
