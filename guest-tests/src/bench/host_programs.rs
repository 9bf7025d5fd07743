//! Host programs copied into L1 or L2 with their shared libraries and data: e.g. QEMU, so a
//! scenario can compare our `vmm` with QEMU as the L1 VMM on the same kernel, initramfs
//! and device, in the same bench run; or `lspci`, so L2 can decode what it sees.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::BenchError;
use super::initramfs::Initramfs;
use super::runner::run_output;

/// A host program and the data files it needs at run time.
#[derive(Debug, Clone, Copy)]
pub struct HostProgram {
    /// The name scenarios and `--l1-host-program` use.
    pub name: &'static str,
    /// The executable.
    pub binary: &'static str,
    /// Data files or directories, copied to the same path (symlinks followed).
    pub data: &'static [&'static str],
}

/// The programs the bench knows how to carry into L1 or L2.
pub const HOST_PROGRAMS: &[HostProgram] = &[
    HostProgram {
        name: "qemu",
        binary: "/usr/bin/qemu-system-x86_64",
        // SeaBIOS and the option ROMs a `-kernel` boot of q35 loads (Debian's QEMU searches
        // /usr/share/qemu and /usr/share/seabios).
        data: &[
            "/usr/share/seabios",
            "/usr/share/qemu/linuxboot.bin",
            "/usr/share/qemu/linuxboot_dma.bin",
            "/usr/share/qemu/kvmvapic.bin",
            "/usr/share/qemu/pvh.bin",
            "/usr/share/qemu/multiboot.bin",
            "/usr/share/qemu/multiboot_dma.bin",
        ],
    },
    // pciutils' lspci (Debian package `pciutils`, installed by `bench setup`) with the PCI ID
    // database it names devices and capabilities from.
    HostProgram {
        name: "lspci",
        binary: "/usr/bin/lspci",
        data: &["/usr/share/misc/pci.ids"],
    },
];

/// The host program called `name`.
pub fn find(name: &str) -> Result<HostProgram, BenchError> {
    HOST_PROGRAMS
        .iter()
        .find(|p| p.name == name)
        .copied()
        .ok_or_else(|| {
            BenchError::Setup(format!(
                "no host program `{name}` (known: {})",
                HOST_PROGRAMS
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The absolute library paths `ldd` lists for `binary` (the loader included).
pub fn shared_libraries(ldd_output: &str) -> Vec<PathBuf> {
    ldd_output
        .lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// Copies `program`, its libraries and its data into `image`.
pub fn install(image: &Initramfs, program: &HostProgram) -> Result<(), BenchError> {
    let binary = Path::new(program.binary);
    if !binary.is_file() {
        return Err(BenchError::NotSetUp(format!(
            "{} is missing (host program `{}`)",
            program.binary, program.name
        )));
    }
    image.add_file(binary, program.binary, 0o755)?;
    let ldd = run_output(Command::new("ldd").arg(binary))?;
    for lib in shared_libraries(&ldd) {
        image.add_file(&lib, &lib.to_string_lossy(), 0o755)?;
    }
    for data in program.data {
        image.add_tree(Path::new(data), data)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_is_parsed() {
        let out = "\tlinux-vdso.so.1 (0x00007ffc)\n\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n\tlibgone.so => not found\n";
        assert_eq!(
            shared_libraries(out),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libz.so.1"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
    }

    #[test]
    fn unknown_program_is_named() {
        assert!(find("nope")
            .unwrap_err()
            .to_string()
            .contains("known: qemu, lspci"));
    }
}
