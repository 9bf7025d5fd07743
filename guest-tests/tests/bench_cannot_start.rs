//! A bench that cannot start fails loudly, with a clear message and a distinct exit code —
//! it never passes by skipping. These run without the bench being set up.

use std::path::Path;
use std::process::{Command, Output};

const BENCH: &str = env!("CARGO_BIN_EXE_bench");
const EXIT_BENCH_ERROR: i32 = 3;

fn bench(args: &[&str], bench_dir: &Path, path: Option<&str>) -> Output {
    let mut cmd = Command::new(BENCH);
    cmd.args(args).env("BENCH_DIR", bench_dir);
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    cmd.output().expect("bench runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn empty_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bench-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn missing_qemu_is_a_clear_error() {
    let dir = empty_dir("noqemu");
    let out = bench(&["run", "host-cxl"], &dir, Some("/nonexistent"));
    assert_eq!(
        out.status.code(),
        Some(EXIT_BENCH_ERROR),
        "{}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(err.contains("qemu-system-x86_64 is not usable"), "{err}");
    assert!(err.contains("bench setup"), "{err}");
}

/// A directory with a stand-in `qemu-system-x86_64` that only prints `version_line` for
/// `--version`, and a PATH that finds it first, so the checks after QEMU's are reached
/// whether or not QEMU is installed here.
fn fake_qemu_path(dir: &Path, version_line: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let qemu = bin.join("qemu-system-x86_64");
    std::fs::write(&qemu, format!("#!/bin/sh\necho '{version_line}'\n")).unwrap();
    std::fs::set_permissions(&qemu, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display())
}

const QEMU_10: &str = "QEMU emulator version 10.0.2 (fake)";

#[test]
fn missing_kernel_is_a_clear_error() {
    let dir = empty_dir("nokernel");
    let path = fake_qemu_path(&dir, QEMU_10);
    let out = bench(&["run", "host-cxl"], &dir, Some(&path));
    assert_eq!(
        out.status.code(),
        Some(EXIT_BENCH_ERROR),
        "{}",
        stderr(&out)
    );
    let err = stderr(&out);
    if Path::new("/bin/busybox").is_file() {
        assert!(err.contains("the bench is not set up: no kernel"), "{err}");
        assert!(err.contains("run `bench setup` first"), "{err}");
    } else {
        assert!(err.contains("busybox-static) is missing"), "{err}");
    }
}

#[test]
fn old_qemu_is_refused() {
    let dir = empty_dir("oldqemu");
    let path = fake_qemu_path(&dir, "QEMU emulator version 7.2.15");
    let out = bench(&["run", "host-cxl"], &dir, Some(&path));
    assert_eq!(out.status.code(), Some(EXIT_BENCH_ERROR));
    assert!(
        stderr(&out).contains("QEMU 10 or newer is needed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_scenario_and_topology_are_clear_errors() {
    let dir = empty_dir("unknown");
    let out = bench(&["run", "no-such-scenario"], &dir, None);
    assert_eq!(out.status.code(), Some(EXIT_BENCH_ERROR));
    assert!(stderr(&out).contains("no scenario named `no-such-scenario`"));

    let script = dir.join("s.sh");
    std::fs::write(&script, "true\n").unwrap();
    let path = fake_qemu_path(&dir, QEMU_10);
    let out = bench(
        &[
            "script",
            "--topology",
            "nope",
            "--l1",
            script.to_str().unwrap(),
        ],
        &dir,
        Some(&path),
    );
    assert_eq!(out.status.code(), Some(EXIT_BENCH_ERROR));
    let err = stderr(&out);
    if Path::new("/bin/busybox").is_file() {
        assert!(err.contains("topology `nope`: cannot read"), "{err}");
        assert!(err.contains("available: cxl"), "{err}");
    }
}

#[test]
fn bad_file_mapping_is_a_usage_error() {
    let dir = empty_dir("mapping");
    let out = bench(
        &[
            "script",
            "--topology",
            "cxl",
            "--l1",
            "x.sh",
            "--file",
            "nocolon",
        ],
        &dir,
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad file mapping `nocolon`"));
}
