//! The bench's shell helpers (`resources/bench/init/lib.sh`) on the host's `sh`, with a
//! stand-in `vmm-probe` that records its arguments and exits with the codes it is given:
//! qemu_l2's retry and its labels, its options, and probe_piped's exit status.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const LIB_SH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../resources/bench/init/lib.sh"
);

/// A scratch directory with a fake `vmm-probe` that exits with the codes in `codes`, one
/// per call, printing `probe: <args>` and `@@l2 init` each time.
fn scratch(name: &str, codes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lib-sh-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("bin")).unwrap();
    let codes: String = codes.iter().map(|c| format!("{c}\n")).collect();
    fs::write(dir.join("codes"), codes).unwrap();
    let probe = dir.join("bin/vmm-probe");
    let script = format!(
        "#!/bin/sh\n\
         echo \"probe: $*\"\n\
         echo '@@l2 init'\n\
         n=$(cat {d}/calls 2>/dev/null || echo 0); n=$((n + 1)); echo $n > {d}/calls\n\
         exit $(sed -n \"${{n}}p\" {d}/codes)\n",
        d = dir.display()
    );
    fs::write(&probe, script).unwrap();
    fs::set_permissions(&probe, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Runs `body` in `sh` after sourcing lib.sh, with the fake on PATH.
fn run(dir: &Path, body: &str) -> (Output, String) {
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let out = Command::new("sh")
        .args(["-c", &format!(". {LIB_SH}\n{body}")])
        .env("PATH", path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out, text)
}

const QEMU_L2: &str = "qemu_l2 qemu-1 512 'console=ttyS0' -device vfio-pci,host=0000:0d:00.0";

#[test]
fn a_hung_qemu_boot_is_retried_under_its_label() {
    let dir = scratch("retry", &[124, 0]);
    let (out, text) = run(&dir, &format!("{QEMU_L2}; echo rc=$?"));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("QEMU (qemu-1) hung; retrying once"), "{text}");
    assert!(text.contains("probe: --label qemu-1-retry "), "{text}");
    assert!(!text.contains("-device-retry"), "{text}");
    assert!(text.contains("rc=0"), "{text}");
}

#[test]
fn two_failed_qemu_boots_fail_naming_the_label() {
    let dir = scratch("twice", &[125, 125]);
    let (out, text) = run(&dir, QEMU_L2);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL: QEMU (qemu-1) did not boot L2 twice"),
        "{text}"
    );
    assert_eq!(text.matches("retrying once").count(), 1, "{text}");
}

#[test]
fn qemu_l2_options_reach_the_probe_and_the_filter() {
    let dir = scratch("options", &[0]);
    let body = format!(
        "tag() {{ while IFS= read -r l; do echo \"[$1] $l\"; done; }}\n\
         qemu_l2 --no-sample --filter 'tag seen' {}",
        QEMU_L2.trim_start_matches("qemu_l2 ")
    );
    let (out, text) = run(&dir, &body);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("[seen] probe: --no-sample --label qemu-1 "),
        "{text}"
    );
    assert!(text.contains("[seen] @@l2 init"), "{text}");
}

#[test]
fn probe_piped_returns_the_probes_exit_status_not_the_filters() {
    let dir = scratch("piped", &[3, 0]);
    let (_, text) = run(
        &dir,
        "probe_piped cat --label a -- x; echo rc=$?\n\
         drain() { cat; return 1; }\n\
         probe_piped drain --label b -- x; echo rc=$?",
    );
    assert!(
        text.contains("probe: --label a -- x\n@@l2 init\nrc=3"),
        "{text}"
    );
    assert!(
        text.contains("probe: --label b -- x\n@@l2 init\nrc=0"),
        "{text}"
    );
}
