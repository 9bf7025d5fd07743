//! Where the bench keeps things: everything lives under one build directory
//! (`target/bench` in the workspace, or `$BENCH_DIR`), so a clean clone starts empty and
//! `cargo clean` resets the bench.

use std::path::{Path, PathBuf};

/// The bench's directories.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The workspace root (holds `resources/`).
    pub workspace: PathBuf,
    /// The bench's build directory.
    pub root: PathBuf,
}

impl Layout {
    /// The layout of this workspace, honouring `$BENCH_DIR`.
    pub fn discover() -> Layout {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("guest-tests lives inside the workspace")
            .to_path_buf();
        let root = std::env::var_os("BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("target").join("bench"));
        Layout { workspace, root }
    }

    /// Downloaded packages.
    pub fn downloads(&self) -> PathBuf {
        self.root.join("downloads")
    }
    /// Unpacked kernel packages, one directory per kernel release.
    pub fn kernels(&self) -> PathBuf {
        self.root.join("kernels")
    }
    /// The record of what `bench setup` installed.
    pub fn setup_state(&self) -> PathBuf {
        self.root.join("setup.json")
    }
    /// The cargo target directory for the static binaries that go into L1 and L2.
    pub fn static_target(&self) -> PathBuf {
        self.root.join("static-target")
    }
    /// Scratch space for one run's images.
    pub fn run_dir(&self, run: &str) -> PathBuf {
        self.root.join("runs").join(run)
    }
    /// Serial-console logs.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// Bench resources shipped with the repository (topologies, init scripts, scenarios).
    pub fn resources(&self) -> PathBuf {
        self.workspace.join("resources").join("bench")
    }
}
