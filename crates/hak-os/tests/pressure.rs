//! `pressure`: the parsers of cgroup v1 and v2 files, pressure stall
//! information and `/proc/self/cgroup` lines, and a [`Source`] reading a
//! directory of fake cgroup files.

use hak_os::pressure::{
    parse_bytes, parse_cgroup_line, parse_limit, parse_psi_some_avg10, CgroupLine, Psi, Reading, Source,
};

#[test]
fn limits_v2_and_v1() {
    assert_eq!(parse_limit(b"1073741824\n"), Some(1 << 30));
    assert_eq!(parse_limit(b"0\n"), Some(0));
    // v2's "no limit".
    assert_eq!(parse_limit(b"max\n"), None);
    // v1's "no limit": PAGE_COUNTER_MAX pages.
    assert_eq!(parse_limit(b"9223372036854771712\n"), None);
    assert_eq!(parse_limit(b"536870912"), Some(512 << 20));
}

#[test]
fn malformed_numbers_are_none() {
    for bad in [&b""[..], b"\n", b"12x\n", b"-5\n", b" 12\n", b"1.5\n", b"99999999999999999999999\n", b"maxx\n"] {
        assert_eq!(parse_bytes(bad), None, "{:?}", String::from_utf8_lossy(bad));
        assert_eq!(parse_limit(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
    assert_eq!(parse_bytes(b"123 \n"), Some(123));
}

#[test]
fn psi_some_avg10_in_hundredths() {
    let text =
        b"some avg10=12.34 avg60=5.00 avg300=1.00 total=123456\nfull avg10=3.00 avg60=1.00 avg300=0.50 total=999\n";
    assert_eq!(parse_psi_some_avg10(text), Some(1234));
    assert_eq!(parse_psi_some_avg10(b"some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"), Some(0));
    assert_eq!(parse_psi_some_avg10(b"some avg10=100.00 avg60=0.00\n"), Some(10000));
    assert_eq!(parse_psi_some_avg10(b"some avg10=7.5 avg60=0.00\n"), Some(750));
    assert_eq!(parse_psi_some_avg10(b"some avg10=3 avg60=0.00\n"), Some(300));
    // The `full` line alone (or first) is not the `some` figure.
    assert_eq!(parse_psi_some_avg10(b"full avg10=3.00 avg60=1.00\nsome avg10=1.25 avg60=0.00\n"), Some(125));
    assert_eq!(parse_psi_some_avg10(b"full avg10=3.00 avg60=1.00\n"), None);
}

#[test]
fn malformed_psi_is_none() {
    for bad in [
        &b""[..],
        b"some\n",
        b"some avg60=1.00\n",
        b"some avg10= avg60=1.00\n",
        b"some avg10=x.00\n",
        b"some avg10=1.0x\n",
        b"some avg10=12345.00\n",
        b"avg10=1.00\n",
    ] {
        assert_eq!(parse_psi_some_avg10(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn cgroup_lines() {
    assert_eq!(
        parse_cgroup_line(b"0::/user.slice/a.scope"),
        Some(CgroupLine { v1_memory: false, path: b"/user.slice/a.scope" })
    );
    assert_eq!(parse_cgroup_line(b"4:memory:/docker/abc"), Some(CgroupLine { v1_memory: true, path: b"/docker/abc" }));
    assert_eq!(parse_cgroup_line(b"7:cpu,memory,pids:/x"), Some(CgroupLine { v1_memory: true, path: b"/x" }));
    // A path may hold colons.
    assert_eq!(parse_cgroup_line(b"0::/a:b"), Some(CgroupLine { v1_memory: false, path: b"/a:b" }));
    for other in
        [&b"3:cpuset:/"[..], b"9:name=systemd:/", b"1::/", b"", b"0:", b"x::/", b"4:memory:relative", b"4:memoryx:/a"]
    {
        assert_eq!(parse_cgroup_line(other), None, "{:?}", String::from_utf8_lossy(other));
    }
}

fn fake_dir(tag: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hak-os-pressure-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

fn source(dir: &std::path::Path) -> Source {
    let s = Source::from_dir(dir.as_os_str().as_encoded_bytes()).expect("a short path");
    assert_eq!(s.psi(), Psi::Dir);
    s
}

#[test]
fn reads_a_v2_directory() {
    let dir = fake_dir(
        "v2",
        &[
            ("memory.max", "1073741824\n"),
            ("memory.high", "805306368\n"),
            ("memory.current", "700000000\n"),
            (
                "memory.pressure",
                "some avg10=2.50 avg60=1.00 avg300=0.00 total=5\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
            ),
        ],
    );
    let r = source(&dir).read();
    assert_eq!(
        r,
        Reading { max: Some(1 << 30), high: Some(768 << 20), current: Some(700_000_000), psi_some_avg10: Some(250) }
    );
    assert_eq!(r.limit(), Some(768 << 20));
    // No limit: the usage is not read, pressure still is.
    std::fs::write(dir.join("memory.max"), "max\n").unwrap();
    std::fs::write(dir.join("memory.high"), "max\n").unwrap();
    let r = source(&dir).read();
    assert_eq!(r, Reading { max: None, high: None, current: None, psi_some_avg10: Some(250) });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reads_a_v1_directory() {
    let dir = fake_dir("v1", &[("memory.limit_in_bytes", "536870912\n"), ("memory.usage_in_bytes", "123\n")]);
    let r = source(&dir).read();
    assert_eq!(r, Reading { max: Some(512 << 20), high: None, current: Some(123), psi_some_avg10: None });
    std::fs::write(dir.join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
    assert_eq!(source(&dir).read(), Reading::default());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_or_missing_files_read_as_nothing() {
    let dir =
        fake_dir("bad", &[("memory.max", "lots\n"), ("memory.current", "12\n"), ("memory.pressure", "garbage\n")]);
    assert_eq!(source(&dir).read(), Reading::default());
    let empty = fake_dir("empty", &[]);
    assert_eq!(source(&empty).read(), Reading::default());
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&empty).unwrap();
    assert!(Source::from_dir(b"").is_none());
    assert!(Source::from_dir(&[b'a'; 300]).is_none());
}

/// On this machine: whatever `/proc/self/cgroup` says, discovery finds a
/// directory with a limit file or a pressure file, or nothing, and reading
/// it never fails.
#[test]
fn discovery_on_this_machine() {
    if let Some(s) = Source::discover() {
        assert!(s.dir().is_some() || s.psi() == Psi::Proc);
        let r = s.read();
        if r.limit().is_none() {
            assert_eq!(r.current, None);
        }
    }
}
