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
    /// The bzImage: `boot/vmlinuz-<release>` (bookworm packages) or
    /// `usr/lib/modules/<release>/vmlinuz` (newer packages, split into linux-binary-*).
    pub fn image(&self) -> PathBuf {
        let boot = self
            .root
            .join("boot")
            .join(format!("vmlinuz-{}", self.release));
        if boot.is_file() {
            boot
        } else {
            self.modules_dir().join("vmlinuz")
        }
    }

    /// The build configuration (`boot/config-<release>`, or `config` beside the modules
    /// in newer packages), if the package has one.
    pub fn config(&self) -> Option<PathBuf> {
        [
            self.root
                .join("boot")
                .join(format!("config-{}", self.release)),
            self.modules_dir().join("config"),
        ]
        .into_iter()
        .find(|p| p.is_file())
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

    /// Finds the release of the kernel unpacked at `root`, from `boot/vmlinuz-<release>`
    /// or `usr/lib/modules/<release>/vmlinuz`.
    pub fn release_in(root: &Path) -> Result<String, BenchError> {
        let names = |dir: PathBuf| -> Vec<String> {
            fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .collect()
        };
        let from_boot = names(root.join("boot"))
            .into_iter()
            .find_map(|n| n.strip_prefix("vmlinuz-").map(str::to_owned));
        let modules = root.join("usr/lib/modules");
        let from_modules = || {
            names(modules.clone())
                .into_iter()
                .find(|release| modules.join(release).join("vmlinuz").is_file())
        };
        from_boot.or_else(from_modules).ok_or_else(|| {
            BenchError::Setup(format!(
                "no boot/vmlinuz-* nor usr/lib/modules/*/vmlinuz in {}",
                root.display()
            ))
        })
    }
}

/// What `bench setup` installed, recorded in `setup.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SetupState {
    /// Unpacked kernels, the default (Debian 6.12) one first.
    pub kernels: Vec<Kernel>,
}

impl SetupState {
    /// Loads the record, or an empty one if there is none yet. Kernel roots recorded
    /// relative to the record's directory (as [`SetupState::save`] writes them) are made
    /// absolute, so a checkout can be moved or copied with its bench.
    pub fn load(path: &Path) -> Result<SetupState, BenchError> {
        let mut state: SetupState = match fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                BenchError::NotSetUp(format!("{} is unreadable: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SetupState::default()),
            Err(e) => return Err(BenchError::io(path)(e)),
        };
        let base = path.parent().unwrap_or(Path::new(""));
        for kernel in &mut state.kernels {
            if kernel.root.is_relative() {
                kernel.root = base.join(&kernel.root);
            }
        }
        Ok(state)
    }

    /// Saves the record, with kernel roots inside the record's directory relative to it.
    pub fn save(&self, path: &Path) -> Result<(), BenchError> {
        let base = path.parent().unwrap_or(Path::new(""));
        let mut portable = self.clone();
        for kernel in &mut portable.kernels {
            if let Ok(relative) = kernel.root.strip_prefix(base) {
                kernel.root = relative.to_path_buf();
            }
        }
        let text = serde_json::to_string_pretty(&portable).expect("the setup state serialises");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(name: &str, files: &[&str]) -> PathBuf {
        let root = std::env::temp_dir().join(format!("bench-kernel-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for f in files {
            let path = root.join(f);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, b"x").unwrap();
        }
        root
    }

    #[test]
    fn bookworm_layout() {
        let root = tree(
            "bookworm",
            &[
                "boot/vmlinuz-6.12.9+deb12-amd64",
                "lib/modules/6.12.9+deb12-amd64/kernel/x.ko.xz",
            ],
        );
        let release = Kernel::release_in(&root).unwrap();
        assert_eq!(release, "6.12.9+deb12-amd64");
        let k = Kernel {
            release,
            suite: "bookworm-backports".into(),
            root: root.clone(),
        };
        assert_eq!(k.image(), root.join("boot/vmlinuz-6.12.9+deb12-amd64"));
        assert_eq!(k.major(), 6);
        k.check().unwrap();
    }

    #[test]
    fn split_package_layout() {
        let root = tree(
            "sid",
            &[
                "usr/lib/modules/7.2.1+deb14-amd64/vmlinuz",
                "usr/lib/modules/7.2.1+deb14-amd64/kernel/x.ko.xz",
            ],
        );
        let release = Kernel::release_in(&root).unwrap();
        assert_eq!(release, "7.2.1+deb14-amd64");
        let k = Kernel {
            release,
            suite: "sid".into(),
            root: root.clone(),
        };
        assert_eq!(
            k.image(),
            root.join("usr/lib/modules/7.2.1+deb14-amd64/vmlinuz")
        );
        assert_eq!(k.major(), 7);
        k.check().unwrap();
    }

    #[test]
    fn empty_tree_is_a_setup_error() {
        let root = tree("empty", &["usr/share/doc/x"]);
        assert!(Kernel::release_in(&root)
            .unwrap_err()
            .to_string()
            .contains("no boot/vmlinuz-*"));
    }

    #[test]
    fn selection_by_major_and_missing_kernel() {
        let state = SetupState::default();
        let e = state.select(Some("7")).unwrap_err().to_string();
        assert!(e.contains("no kernel `7`"), "{e}");
        assert!(e.contains("--sid-kernel"), "{e}");
    }

    #[test]
    fn the_record_survives_moving_the_bench() {
        let old = tree("move-old", &[]);
        fs::create_dir_all(&old).unwrap();
        let kernel = Kernel {
            release: "6.12.9+deb12-amd64".into(),
            suite: "bookworm-backports".into(),
            root: old.join("kernels/6.12.9+deb12-amd64"),
        };
        let outside = Kernel {
            root: PathBuf::from("/opt/elsewhere/kernel"),
            ..kernel.clone()
        };
        let state = SetupState {
            kernels: vec![kernel, outside],
        };
        state.save(&old.join("setup.json")).unwrap();
        let text = fs::read_to_string(old.join("setup.json")).unwrap();
        assert!(text.contains("\"kernels/6.12.9+deb12-amd64\""), "{text}");
        assert!(text.contains("\"/opt/elsewhere/kernel\""), "{text}");
        // The bench directory moves: the record follows it.
        let new =
            std::env::temp_dir().join(format!("bench-kernel-move-new-{}", std::process::id()));
        let _ = fs::remove_dir_all(&new);
        fs::rename(&old, &new).unwrap();
        let loaded = SetupState::load(&new.join("setup.json")).unwrap();
        assert_eq!(
            loaded.kernels[0].root,
            new.join("kernels/6.12.9+deb12-amd64")
        );
        assert_eq!(
            loaded.kernels[1].root,
            PathBuf::from("/opt/elsewhere/kernel")
        );
    }
}
