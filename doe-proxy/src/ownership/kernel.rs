//! Whether the host kernel has its own DOE mailboxes for a function. Since Linux 6.4 the
//! PCI core creates one for every DOE capability when it enumerates the function, if the
//! kernel was built with `CONFIG_PCI_DOE` (selected by `CONFIG_CXL_BUS`; its own option
//! since 6.15), aborting it as it does; since 6.15 `doe_features/` in the function's sysfs
//! directory lists what it found (reference: `doe-sources.md` §2.4, §2.5). The answer comes
//! from the best evidence at hand, and says which: `doe_features/`, the kernel's config
//! (`/proc/config.gz`, read with `gzip -dc`, or `/boot/config-<release>`), or its release.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use super::host::HostPaths;
use crate::pci_address::Bdf;

/// The first release whose PCI core creates every mailbox at enumeration (commit
/// ac04840350e2, "PCI/DOE: Create mailboxes on device enumeration").
const CORE_CREATES: (u32, u32) = (6, 4);
/// The first release with `doe_features/` in sysfs.
const SYSFS_FEATURES: (u32, u32) = (6, 15);
/// The option that builds the DOE core.
const OPTION: &str = "CONFIG_PCI_DOE";

/// What the kernel does with a mailbox it created, for the report.
pub const KERNEL_USE_NOTE: &str = "the PCI core aborts each mailbox when it creates it (at \
    enumeration, a rescan or a hot-add), wiping an exchange in flight, then exchanges on it for \
    its own requesters (the CXL core's CDAT reads, a connected TSM)";

/// Yes, no, or cannot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Presence {
    /// Yes.
    Yes,
    /// No.
    No,
    /// Cannot tell.
    Unknown,
}

/// Whether the host kernel has mailboxes of its own for a function, and how that was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelDoe {
    /// The answer.
    pub has_mailboxes: Presence,
    /// The running kernel's release (`/proc/sys/kernel/osrelease`), if readable.
    pub release: Option<String>,
    /// How the answer was reached.
    pub how: String,
}

/// What the kernel's config says about [`OPTION`], and where it was read.
struct ConfigFinding {
    source: String,
    enabled: bool,
}

/// Whether the kernel has mailboxes for `bdf`; `has_doe` is whether the function has DOE
/// capabilities (`None` when its extended config space could not be read).
pub fn kernel_doe(host: &HostPaths, bdf: Bdf, has_doe: Option<bool>) -> KernelDoe {
    let release = std::fs::read_to_string(host.proc.join("sys/kernel/osrelease"))
        .ok()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    let (has_mailboxes, how) = decide(host, bdf, has_doe, release.as_deref());
    KernelDoe {
        has_mailboxes,
        release,
        how,
    }
}

fn decide(
    host: &HostPaths,
    bdf: Bdf,
    has_doe: Option<bool>,
    release: Option<&str>,
) -> (Presence, String) {
    use Presence::{No, Unknown, Yes};
    if has_doe == Some(false) {
        let (_, kernel) = decide(host, bdf, None, release);
        return (
            No,
            format!("the function has no DOE capability (for one that has: {kernel})"),
        );
    }
    if host.function_dir(bdf).join("doe_features").is_dir() {
        return (
            Yes,
            "its doe_features/ directory exists: the kernel created its mailboxes \
             (Linux ≥ 6.15 lists their features there)"
                .to_owned(),
        );
    }
    let version = release.and_then(parse_version);
    let rel = release.unwrap_or("?");
    match (config(host, release), version) {
        (Some(c), _) if !c.enabled => (No, format!("{OPTION} is not set in {}", c.source)),
        (Some(c), Some(v)) if v >= CORE_CREATES => (
            Yes,
            format!(
                "{OPTION}=y in {} and Linux {rel} ≥ 6.4: the PCI core creates a mailbox for \
                 each DOE capability at enumeration",
                c.source
            ),
        ),
        (Some(c), Some(_)) => (
            No,
            format!(
                "{OPTION}=y in {} but Linux {rel} < 6.4: the PCI core creates none (cxl_pci \
                 creates its own)",
                c.source
            ),
        ),
        (Some(c), None) => (
            Unknown,
            format!(
                "{OPTION}=y in {}, but the kernel release is unknown",
                c.source
            ),
        ),
        (None, Some(v)) if v >= SYSFS_FEATURES && has_doe == Some(true) => (
            No,
            format!(
                "no doe_features/ directory although the function has DOE capabilities: Linux \
                 {rel} ≥ 6.15 would list the mailboxes it created ({OPTION} off, or creating \
                 them failed)"
            ),
        ),
        (None, Some(v)) if v >= CORE_CREATES => (
            Unknown,
            format!(
                "Linux {rel} ≥ 6.4 creates them at enumeration if built with {OPTION}; no \
                 kernel config found (/proc/config.gz, /boot/config-{rel})"
            ),
        ),
        (None, Some(_)) => (
            No,
            format!("Linux {rel} < 6.4: the PCI core creates no mailbox (cxl_pci creates its own)"),
        ),
        (None, None) => (
            Unknown,
            "the kernel release is unknown and no kernel config was found".to_owned(),
        ),
    }
}

/// `(major, minor)` of a release such as `6.12.0-31-amd64`.
fn parse_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The running kernel's config: `/proc/config.gz` (through `gzip -dc`), else
/// `/boot/config-<release>`.
fn config(host: &HostPaths, release: Option<&str>) -> Option<ConfigFinding> {
    let gz = host.proc.join("config.gz");
    if let Some(text) = gunzip(&gz) {
        return Some(finding(gz.display().to_string(), &text));
    }
    let path = host.boot.join(format!("config-{}", release?));
    let text = std::fs::read_to_string(&path).ok()?;
    Some(finding(path.display().to_string(), &text))
}

fn finding(source: String, text: &str) -> ConfigFinding {
    let enabled = text
        .lines()
        .any(|line| line.trim() == format!("{OPTION}=y"));
    ConfigFinding { source, enabled }
}

/// The decompressed text of a gzip file, if it exists and `gzip` can read it.
fn gunzip(path: &Path) -> Option<String> {
    if !path.is_file() {
        return None;
    }
    let out = Command::new("gzip").arg("-dc").arg(path).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ownership::test_tree::FakeHost;

    fn bdf() -> Bdf {
        "0000:0d:00.0".parse().unwrap()
    }

    #[test]
    fn doe_features_is_the_best_evidence() {
        let host = FakeHost::new();
        host.function(bdf())
            .doe_features(&["doe_discovery", "1e98:02"]);
        host.kernel_release("6.15.0");
        host.boot_config("6.15.0", "# CONFIG_PCI_DOE is not set\n");
        let k = kernel_doe(&host.paths(), bdf(), Some(true));
        assert_eq!(k.has_mailboxes, Presence::Yes);
        assert!(k.how.contains("doe_features"), "{}", k.how);
        assert_eq!(k.release.as_deref(), Some("6.15.0"));
    }

    #[test]
    fn the_boot_config_decides_with_the_release() {
        let host = FakeHost::new();
        host.function(bdf());
        host.kernel_release("6.12.0-31-amd64");
        host.boot_config("6.12.0-31-amd64", "CONFIG_PCI=y\nCONFIG_PCI_DOE=y\n");
        let k = kernel_doe(&host.paths(), bdf(), Some(true));
        assert_eq!(k.has_mailboxes, Presence::Yes, "{}", k.how);
        assert!(k.how.contains("config-6.12.0-31-amd64"), "{}", k.how);

        host.boot_config("6.12.0-31-amd64", "# CONFIG_PCI_DOE is not set\n");
        let k = kernel_doe(&host.paths(), bdf(), Some(true));
        assert_eq!(k.has_mailboxes, Presence::No, "{}", k.how);

        host.kernel_release("6.1.0");
        host.boot_config("6.1.0", "CONFIG_PCI_DOE=y\n");
        let k = kernel_doe(&host.paths(), bdf(), Some(true));
        assert_eq!(k.has_mailboxes, Presence::No, "{}", k.how);
        assert!(k.how.contains("< 6.4"), "{}", k.how);
    }

    #[test]
    fn proc_config_gz_is_read_first() {
        let host = FakeHost::new();
        host.function(bdf());
        host.kernel_release("6.12.0");
        host.boot_config("6.12.0", "# CONFIG_PCI_DOE is not set\n");
        let plain = host.paths().proc.join("config");
        std::fs::write(&plain, "CONFIG_PCI_DOE=y\n").unwrap();
        let zipped = Command::new("gzip")
            .arg(&plain)
            .status()
            .expect("gzip runs");
        assert!(zipped.success());
        let k = kernel_doe(&host.paths(), bdf(), Some(true));
        assert_eq!(k.has_mailboxes, Presence::Yes, "{}", k.how);
        assert!(k.how.contains("config.gz"), "{}", k.how);
    }

    #[test]
    fn without_a_config_the_release_is_all_there_is() {
        let host = FakeHost::new();
        host.function(bdf());
        host.kernel_release("6.12.0");
        let k = kernel_doe(&host.paths(), bdf(), Some(true));
        assert_eq!(k.has_mailboxes, Presence::Unknown, "{}", k.how);
        // Unreadable capabilities on 6.15+: cannot conclude from the missing doe_features.
        host.kernel_release("6.16.1");
        let k = kernel_doe(&host.paths(), bdf(), None);
        assert_eq!(k.has_mailboxes, Presence::Unknown, "{}", k.how);
        let k = kernel_doe(&host.paths(), bdf(), Some(true));
        assert_eq!(k.has_mailboxes, Presence::No, "{}", k.how);
        host.kernel_release("5.15.0");
        assert_eq!(
            kernel_doe(&host.paths(), bdf(), Some(true)).has_mailboxes,
            Presence::No
        );
    }

    #[test]
    fn no_release_and_no_config_is_unknown() {
        let host = FakeHost::new();
        host.function(bdf());
        let k = kernel_doe(&host.paths(), bdf(), Some(true));
        assert_eq!(k.has_mailboxes, Presence::Unknown);
        assert_eq!(k.release, None);
    }

    #[test]
    fn a_function_without_doe_has_no_kernel_mailbox() {
        let host = FakeHost::new();
        host.function(bdf()).doe_features(&["doe_discovery"]);
        let k = kernel_doe(&host.paths(), bdf(), Some(false));
        assert_eq!(k.has_mailboxes, Presence::No);
        // The kernel's general answer is still given.
        assert!(k.how.contains("no DOE capability"), "{}", k.how);
        assert!(k.how.contains("doe_features"), "{}", k.how);
    }

    #[test]
    fn versions_parse_from_distribution_releases() {
        assert_eq!(parse_version("6.12.0-31-amd64"), Some((6, 12)));
        assert_eq!(parse_version("6.18.44-fc-v1272"), Some((6, 18)));
        assert_eq!(parse_version("7.0"), Some((7, 0)));
        assert_eq!(parse_version("garbage"), None);
        assert_eq!(parse_version("6"), None);
    }
}
