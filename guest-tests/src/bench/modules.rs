//! Kernel modules for L1 and L2: find them by name in an unpacked kernel, resolve their
//! dependencies from each module's own `.modinfo` (`depends=`), and decompress them for
//! busybox `insmod`, which loads plain `.ko` files only.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::BenchError;
use super::runner::run_checked;

/// The modules of one kernel tree, by canonical name (`-` and `_` are the same to the kernel).
#[derive(Debug)]
pub struct ModuleIndex {
    dir: PathBuf,
    by_name: BTreeMap<String, PathBuf>,
}

/// The kernel's canonical module name.
pub fn canonical(name: &str) -> String {
    name.replace('-', "_")
}

/// Checks a module name a user gave (`uio_pci_generic`, `kvm-amd`): letters, digits, `_`
/// and `-`, nothing that could name a path.
pub fn parse_module_name(name: &str) -> Result<String, String> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "`{name}` is not a kernel module name (letters, digits, `_` and `-`, e.g. uio_pci_generic)"
        ))
    }
}

/// The module name of a file such as `kvm-amd.ko.xz`.
fn module_name(file: &Path) -> Option<String> {
    let name = file.file_name()?.to_str()?;
    let stem = name.split(".ko").next()?;
    (name.len() > stem.len()).then(|| canonical(stem))
}

impl ModuleIndex {
    /// Indexes every module under `dir` (`lib/modules/<release>`).
    pub fn build(dir: &Path) -> Result<ModuleIndex, BenchError> {
        let mut by_name = BTreeMap::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(d) = pending.pop() {
            for entry in fs::read_dir(&d).map_err(BenchError::io(&d))?.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else if let Some(name) = module_name(&path) {
                    by_name.insert(name, path);
                }
            }
        }
        Ok(ModuleIndex {
            dir: dir.to_path_buf(),
            by_name,
        })
    }

    /// The modules to load, in load order, for `wanted` and everything they depend on.
    /// Each entry is the module's canonical name and its file.
    pub fn resolve(
        &self,
        wanted: &[String],
        scratch: &Path,
    ) -> Result<Vec<(String, PathBuf)>, BenchError> {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        for name in wanted {
            self.visit(&canonical(name), scratch, &mut seen, &mut order)?;
        }
        Ok(order)
    }

    fn visit(
        &self,
        name: &str,
        scratch: &Path,
        seen: &mut HashSet<String>,
        order: &mut Vec<(String, PathBuf)>,
    ) -> Result<(), BenchError> {
        if !seen.insert(name.to_owned()) {
            return Ok(());
        }
        let file = self
            .by_name
            .get(name)
            .ok_or_else(|| BenchError::ModuleNotFound(name.to_owned(), self.dir.clone()))?;
        let plain = decompress(file, &scratch.join(format!("{name}.ko")))?;
        let bytes = fs::read(&plain).map_err(BenchError::io(&plain))?;
        for dep in modinfo_depends(&bytes) {
            self.visit(&dep, scratch, seen, order)?;
        }
        order.push((name.to_owned(), plain));
        Ok(())
    }
}

/// The `depends=` list in a module's `.modinfo` strings.
pub fn modinfo_depends(module: &[u8]) -> Vec<String> {
    const KEY: &[u8] = b"depends=";
    module
        .split(|&b| b == 0)
        .find_map(|field| field.strip_prefix(KEY))
        .map(|list| {
            String::from_utf8_lossy(list)
                .split(',')
                .filter(|d| !d.is_empty())
                .map(canonical)
                .collect()
        })
        .unwrap_or_default()
}

/// Writes the plain `.ko` of `file` (compressed with xz or zstd, or not) to `out`.
fn decompress(file: &Path, out: &Path) -> Result<PathBuf, BenchError> {
    if let Some(parent) = out.parent() {
        fs::create_dir_all(parent).map_err(BenchError::io(parent))?;
    }
    let name = file.to_string_lossy();
    let tool = if name.ends_with(".xz") {
        Some("xz")
    } else if name.ends_with(".zst") {
        Some("zstd")
    } else {
        None
    };
    match tool {
        None => {
            fs::copy(file, out).map_err(BenchError::io(out))?;
        }
        Some(tool) => {
            let target = fs::File::create(out).map_err(BenchError::io(out))?;
            run_checked(Command::new(tool).arg("-dc").arg(file).stdout(target))?;
        }
    }
    Ok(out.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_are_read_from_modinfo() {
        let blob = b"\x7fELF junk\0license=GPL\0depends=kvm,ccp\0intree=Y\0";
        assert_eq!(modinfo_depends(blob), vec!["kvm", "ccp"]);
        let blob = b"license=GPL\0depends=\0";
        assert!(modinfo_depends(blob).is_empty());
    }

    #[test]
    fn module_names_are_checked() {
        assert_eq!(
            parse_module_name("uio_pci_generic").unwrap(),
            "uio_pci_generic"
        );
        assert_eq!(parse_module_name("kvm-amd").unwrap(), "kvm-amd");
        for bad in ["", "uio.ko", "../uio", "a b", "x/y"] {
            assert!(parse_module_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_canonical() {
        assert_eq!(
            module_name(Path::new("/x/vfio-pci-core.ko.xz")).as_deref(),
            Some("vfio_pci_core")
        );
        assert_eq!(module_name(Path::new("/x/modules.dep")), None);
    }

    /// A scratch directory unique to this test process and `label`.
    fn scratch(label: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("bench-modules-{label}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A fake kernel tree: plain `.ko` files whose only content is their `.modinfo`.
    fn fake_tree(root: &Path, modules: &[(&str, &str)]) {
        for (file, depends) in modules {
            let path = root.join("kernel/drivers").join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, format!("\0license=GPL\0depends={depends}\0")).unwrap();
        }
    }

    #[test]
    fn dependencies_are_loaded_first_and_once() {
        let dir = scratch("resolve");
        let tree = dir.join("tree");
        fake_tree(
            &tree,
            &[
                ("uio/uio.ko", ""),
                ("uio/uio_pci_generic.ko", "uio"),
                ("uio/uio-extra.ko", "uio,uio_pci_generic"),
                ("other/unrelated.ko", ""),
            ],
        );
        let index = ModuleIndex::build(&tree).unwrap();
        let wanted = ["uio-pci-generic".to_owned(), "uio_extra".to_owned()];
        let order = index.resolve(&wanted, &dir.join("out")).unwrap();
        let names: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["uio", "uio_pci_generic", "uio_extra"]);
        for (name, file) in &order {
            assert_eq!(file, &dir.join("out").join(format!("{name}.ko")));
            assert!(file.is_file());
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_module_or_dependency_is_named() {
        let dir = scratch("missing");
        let tree = dir.join("tree");
        fake_tree(&tree, &[("a/needs_ghost.ko", "ghost")]);
        let index = ModuleIndex::build(&tree).unwrap();
        for (wanted, missing) in [("nope", "nope"), ("needs-ghost", "ghost")] {
            match index.resolve(&[wanted.to_owned()], &dir.join("out")) {
                Err(BenchError::ModuleNotFound(name, _)) => assert_eq!(name, missing),
                other => panic!("{wanted}: expected ModuleNotFound, got {other:?}"),
            }
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
