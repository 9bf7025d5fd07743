//! Kernels unpacked from Debian packages: where the image and the modules are.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::BenchError;

/// A kernel unpacked under the bench directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Kernel {
    /// The kernel release (`uname -r`), e.g. `6.12.95+deb12-amd64`.
    pub release: String,
    /// The suite it came from (`bookworm-backports`, `sid`).
    pub suite: String,
    /// The directory the packages were unpacked into.
    pub root: PathBuf,
}

impl Kernel {
    /// The bzImage.
    pub fn image(&self) -> PathBuf {
        self.root
            .join("boot")
            .join(format!("vmlinuz-{}", self.release))
    }

    /// The module tree (`lib/modules/<release>`).
    pub fn modules_dir(&self) -> PathBuf {
        let usr = self.root.join("usr/lib/modules").join(&self.release);
        if usr.is_dir() {
            usr
        } else {
            self.root.join("lib/modules").join(&self.release)
        }
    }

    /// The major version (`6`, `7`).
    pub fn major(&self) -> u32 {
        self.release
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }

    /// Checks that the image and modules are present.
    pub fn check(&self) -> Result<(), BenchError> {
        if !self.image().is_file() {
            return Err(BenchError::NotSetUp(format!(
                "kernel image {} is missing",
                self.image().display()
            )));
        }
        if !self.modules_dir().is_dir() {
            return Err(BenchError::NotSetUp(format!(
                "kernel modules {} are missing",
                self.modules_dir().display()
            )));
        }
        Ok(())
    }

    /// Finds the release of the kernel unpacked at `root` from its `boot/vmlinuz-*`.
    pub fn release_in(root: &Path) -> Result<String, BenchError> {
        let boot = root.join("boot");
        let entries = fs::read_dir(&boot).map_err(BenchError::io(&boot))?;
        entries
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_prefix("vmlinuz-")
                    .map(str::to_owned)
            })
            .next()
            .ok_or_else(|| BenchError::Setup(format!("no vmlinuz-* in {}", boot.display())))
    }
}

/// What `bench setup` installed, recorded in `setup.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SetupState {
    /// Unpacked kernels, the default (Debian 6.12) one first.
    pub kernels: Vec<Kernel>,
}

impl SetupState {
    /// Loads the record, or an empty one if there is none yet.
    pub fn load(path: &Path) -> Result<SetupState, BenchError> {
        match fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                BenchError::NotSetUp(format!("{} is unreadable: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SetupState::default()),
            Err(e) => Err(BenchError::io(path)(e)),
        }
    }

    /// Saves the record.
    pub fn save(&self, path: &Path) -> Result<(), BenchError> {
        let text = serde_json::to_string_pretty(self).expect("the setup state serialises");
        fs::write(path, text).map_err(BenchError::io(path))
    }

    /// The kernel from `suite`, if set up.
    pub fn from_suite(&self, suite: &str) -> Option<&Kernel> {
        self.kernels.iter().find(|k| k.suite == suite)
    }

    /// Picks a kernel: by major version (`6`, `7`), by release, or the default (first).
    pub fn select(&self, wanted: Option<&str>) -> Result<Kernel, BenchError> {
        let kernel = match wanted {
            None => self.kernels.first(),
            Some(w) => self
                .kernels
                .iter()
                .find(|k| k.release == w || k.major().to_string() == w),
        };
        let kernel = kernel.cloned().ok_or_else(|| {
            BenchError::NotSetUp(match wanted {
                None => "no kernel has been unpacked".to_owned(),
                Some(w) => format!(
                    "no kernel `{w}` (have: {}; `bench setup --sid-kernel` adds a 7.x kernel)",
                    self.kernels
                        .iter()
                        .map(|k| k.release.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
        })?;
        kernel.check()?;
        Ok(kernel)
    }
}
