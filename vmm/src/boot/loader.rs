//! Puts the kernel, the initramfs and the command line into guest memory.

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use linux_loader::loader::bootparam::setup_header;
use linux_loader::loader::bzimage::{BzImage, Error as BzError};
use linux_loader::loader::{Error as LoaderError, KernelLoader};
use vm_memory::{Bytes, GuestAddress};

use crate::layout::{align_down, CMDLINE_ADDR, CMDLINE_MAX, HIMEM_START};
use crate::memory::GuestMemoryMmap;

/// The 64-bit entry point is this far past the protected-mode code (boot.rst, "64-bit BOOT
/// PROTOCOL").
const ENTRY_64_OFFSET: u64 = 0x200;
/// `xloadflags`: the kernel has the 64-bit entry point.
const XLF_KERNEL_64: u16 = 1 << 0;
/// Oldest boot protocol with `xloadflags` (2.12).
const MIN_PROTOCOL: u16 = 0x020c;
/// Alignment of the initramfs.
const INITRAMFS_ALIGN: u64 = 0x1000;
/// Assumed `kernel_alignment` lower bound: the decompressed kernel lands at or above this
/// (Linux's default `CONFIG_PHYSICAL_START`), and needs `init_size` bytes from there.
const KERNEL_RUN_ADDR: u64 = 16 << 20;

/// Errors while loading the guest's boot images.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The kernel file does not exist.
    #[error("kernel not found: {0}")]
    KernelNotFound(PathBuf),
    /// The kernel file cannot be read.
    #[error("cannot read kernel {path}: {source}")]
    KernelRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The kernel is not a bzImage.
    #[error("{0} is not a bzImage kernel")]
    NotBzImage(PathBuf),
    /// The bzImage has no 64-bit entry point.
    #[error("{0} has no 64-bit entry point (boot protocol 2.12 or later needed)")]
    No64BitEntry(PathBuf),
    /// The initramfs file does not exist.
    #[error("initramfs not found: {0}")]
    InitramfsNotFound(PathBuf),
    /// The initramfs cannot be read.
    #[error("cannot read initramfs {path}: {source}")]
    InitramfsRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Guest memory cannot hold the kernel and the initramfs.
    #[error("guest memory ({have_mib} MiB) is too small for the kernel and initramfs (need more than {need_mib} MiB)")]
    TooSmall {
        /// RAM below the 32-bit hole, MiB.
        have_mib: u64,
        /// What the images need, MiB.
        need_mib: u64,
    },
    /// The command line does not fit.
    #[error("kernel command line is too long ({len} bytes, the kernel accepts {max})")]
    CmdlineTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: u64,
    },
    /// The command line has a NUL byte.
    #[error("kernel command line contains a NUL byte")]
    CmdlineNul,
    /// Writing guest memory failed.
    #[error("cannot write {what} into guest memory: {source}")]
    GuestWrite {
        /// What was being written.
        what: &'static str,
        /// The error.
        source: vm_memory::GuestMemoryError,
    },
}

/// The loaded kernel.
#[derive(Debug, Clone, Copy)]
pub struct LoadedKernel {
    /// Where the vCPU starts (the 64-bit entry point).
    pub entry: u64,
    /// The kernel's setup header (becomes part of the zero page).
    pub header: setup_header,
}

fn open(path: &Path) -> Result<File, (bool, std::io::Error)> {
    File::open(path).map_err(|e| (e.kind() == ErrorKind::NotFound, e))
}

/// Loads the bzImage at `path`, at its preferred address, checking it will fit once
/// decompressed into RAM that ends at `low_ram_end`.
pub fn load_kernel(
    mem: &GuestMemoryMmap,
    path: &Path,
    low_ram_end: u64,
) -> Result<LoadedKernel, LoadError> {
    let mut file = open(path).map_err(|(missing, source)| {
        if missing {
            LoadError::KernelNotFound(path.to_owned())
        } else {
            LoadError::KernelRead {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    let result = BzImage::load(mem, None, &mut file, Some(GuestAddress(HIMEM_START))).map_err(
        |e| match e {
            LoaderError::Bzimage(BzError::InvalidBzImage)
            | LoaderError::Bzimage(BzError::ReadBzImageHeader)
            | LoaderError::Bzimage(BzError::Underflow)
            | LoaderError::InvalidKernelStartAddress => LoadError::NotBzImage(path.to_owned()),
            // Reading the payload into guest memory fails when it does not fit.
            _ => LoadError::TooSmall {
                have_mib: low_ram_end >> 20,
                need_mib: file_mib(path),
            },
        },
    )?;
    let header = result
        .setup_header
        .ok_or_else(|| LoadError::NotBzImage(path.to_owned()))?;
    if header.version < MIN_PROTOCOL || header.xloadflags & XLF_KERNEL_64 == 0 {
        return Err(LoadError::No64BitEntry(path.to_owned()));
    }
    let need = KERNEL_RUN_ADDR.max(result.kernel_end) + u64::from(header.init_size);
    if need > low_ram_end {
        return Err(LoadError::TooSmall {
            have_mib: low_ram_end >> 20,
            need_mib: need >> 20,
        });
    }
    Ok(LoadedKernel {
        entry: result.kernel_load.0 + ENTRY_64_OFFSET,
        header,
    })
}

fn file_mib(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len() >> 20).unwrap_or(0)
}

/// Where an initramfs of `size` bytes goes: as high as allowed below `low_ram_end` and
/// `initrd_addr_max`, page-aligned, above the decompressed kernel. `None` if it does not fit.
pub fn initramfs_addr(
    size: u64,
    low_ram_end: u64,
    initrd_addr_max: u32,
    kernel: &setup_header,
) -> Option<u64> {
    let top = low_ram_end.min(u64::from(initrd_addr_max) + 1);
    let addr = align_down(top.checked_sub(size)?, INITRAMFS_ALIGN);
    let kernel_end = KERNEL_RUN_ADDR + u64::from(kernel.init_size);
    (addr >= kernel_end).then_some(addr)
}

/// Loads the initramfs at `path`, streaming it straight into guest memory (no heap copy);
/// returns `(guest address, size)`.
pub fn load_initramfs(
    mem: &GuestMemoryMmap,
    path: &Path,
    low_ram_end: u64,
    kernel: &setup_header,
) -> Result<(u64, u32), LoadError> {
    let read_err = |source| LoadError::InitramfsRead {
        path: path.to_owned(),
        source,
    };
    let mut file = open(path).map_err(|(missing, source)| {
        if missing {
            LoadError::InitramfsNotFound(path.to_owned())
        } else {
            read_err(source)
        }
    })?;
    let size = file.metadata().map_err(read_err)?.len();
    let too_small = || LoadError::TooSmall {
        have_mib: low_ram_end >> 20,
        need_mib: (KERNEL_RUN_ADDR + u64::from(kernel.init_size) + size) >> 20,
    };
    let size32 = u32::try_from(size).map_err(|_| too_small())?;
    let addr =
        initramfs_addr(size, low_ram_end, kernel.initrd_addr_max, kernel).ok_or_else(too_small)?;
    mem.read_exact_volatile_from(GuestAddress(addr), &mut file, size as usize)
        .map_err(|e| read_err(std::io::Error::other(e)))?;
    Ok((addr, size32))
}

/// Writes the command line (NUL-terminated) at [`CMDLINE_ADDR`]; returns its length.
pub fn load_cmdline(
    mem: &GuestMemoryMmap,
    cmdline: &str,
    kernel: &setup_header,
) -> Result<u32, LoadError> {
    if cmdline.as_bytes().contains(&0) {
        return Err(LoadError::CmdlineNul);
    }
    let max = u64::from(kernel.cmdline_size).min(CMDLINE_MAX - 1);
    if cmdline.len() as u64 > max {
        return Err(LoadError::CmdlineTooLong {
            len: cmdline.len(),
            max,
        });
    }
    let mut bytes = cmdline.as_bytes().to_vec();
    bytes.push(0);
    mem.write_slice(&bytes, GuestAddress(CMDLINE_ADDR))
        .map_err(|source| LoadError::GuestWrite {
            what: "the command line",
            source,
        })?;
    Ok(cmdline.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(init_size: u32) -> setup_header {
        setup_header {
            init_size,
            initrd_addr_max: 0x7fff_ffff,
            ..Default::default()
        }
    }

    #[test]
    fn initramfs_goes_to_the_top_of_low_ram() {
        let h = header(40 << 20);
        assert_eq!(
            initramfs_addr(0x1800, 512 << 20, h.initrd_addr_max, &h),
            Some((512 << 20) - 0x2000)
        );
        // Capped by initrd_addr_max.
        assert_eq!(
            initramfs_addr(0x1000, 3 << 30, 0x7fff_ffff, &h),
            Some(0x8000_0000 - 0x1000)
        );
    }

    #[test]
    fn initramfs_that_collides_with_the_kernel_does_not_fit() {
        let h = header(40 << 20);
        assert_eq!(
            initramfs_addr(10 << 20, 64 << 20, h.initrd_addr_max, &h),
            None
        );
        assert_eq!(
            initramfs_addr(100 << 20, 64 << 20, h.initrd_addr_max, &h),
            None
        );
    }

    #[test]
    fn missing_and_bogus_kernels() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 64 << 20)]).unwrap();
        let e = load_kernel(&mem, Path::new("/nonexistent/vmlinuz"), 64 << 20).unwrap_err();
        assert_eq!(e.to_string(), "kernel not found: /nonexistent/vmlinuz");
        let dir = std::env::temp_dir().join(format!("vmm-loader-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bogus = dir.join("bogus");
        std::fs::write(&bogus, vec![0x5a; 8192]).unwrap();
        let e = load_kernel(&mem, &bogus, 64 << 20).unwrap_err();
        assert!(e.to_string().ends_with("is not a bzImage kernel"), "{e}");
        let tiny = dir.join("tiny");
        std::fs::write(&tiny, b"x").unwrap();
        assert!(matches!(
            load_kernel(&mem, &tiny, 64 << 20),
            Err(LoadError::NotBzImage(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn initramfs_is_streamed_to_the_top_of_ram() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 64 << 20)]).unwrap();
        let path = std::env::temp_dir().join(format!("vmm-initramfs-{}", std::process::id()));
        std::fs::write(&path, vec![0xa5; 0x1800]).unwrap();
        let h = header(8 << 20);
        let (addr, size) = load_initramfs(&mem, &path, 64 << 20, &h).unwrap();
        assert_eq!((addr, size), ((64 << 20) - 0x2000, 0x1800));
        let last: u8 = mem.read_obj(GuestAddress(addr + 0x17ff)).unwrap();
        assert_eq!(last, 0xa5);
        std::fs::remove_file(&path).unwrap();
        let e = load_initramfs(&mem, Path::new("/nonexistent/initrd"), 64 << 20, &h).unwrap_err();
        assert_eq!(e.to_string(), "initramfs not found: /nonexistent/initrd");
    }

    #[test]
    fn cmdline_limits() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap();
        let h = setup_header {
            cmdline_size: 8,
            ..Default::default()
        };
        assert_eq!(load_cmdline(&mem, "console", &h).unwrap(), 7);
        let back: [u8; 8] = mem.read_obj(GuestAddress(CMDLINE_ADDR)).unwrap();
        assert_eq!(&back, b"console\0");
        assert!(matches!(
            load_cmdline(&mem, "console=ttyS0", &h),
            Err(LoadError::CmdlineTooLong { .. })
        ));
        assert!(matches!(
            load_cmdline(&mem, "a\0b", &h),
            Err(LoadError::CmdlineNul)
        ));
    }
}
