//! QEMU's `edu` device (`hw/misc/edu.c`) as the guest tools drive it: its IDs, the BAR0
//! registers they use and BAR0 mapped from sysfs `resource0`.
//!
//! edu raises its interrupt when software writes a non-zero value to `0x60` (the value is
//! ORed into the status register `0x24`) and lowers it when the status is cleared through
//! `0x64`. With MSI enabled in its config space, every raise sends one MSI; otherwise it
//! asserts INTx. Its registers below `0x80` only answer 4-byte accesses.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// edu's PCI vendor ID as sysfs writes it.
pub const EDU_VENDOR: &str = "0x1234";
/// edu's PCI device ID as sysfs writes it.
pub const EDU_DEVICE: &str = "0x11e8";

/// The identification register.
pub const REG_IDENT: usize = 0x00;
/// The interrupt status register.
pub const REG_IRQ_STATUS: usize = 0x24;
/// The interrupt raise register (status |= value, then the interrupt).
pub const REG_IRQ_RAISE: usize = 0x60;
/// The interrupt acknowledge register (status &= !value).
pub const REG_IRQ_ACK: usize = 0x64;
/// The identification register's value: edu 1.0 (`0xRRrr00ed`).
pub const EDU_IDENT: u32 = 0x0100_00ed;
/// The part of BAR0 the tools touch.
const BAR0_NEEDED: usize = REG_IRQ_ACK + 4;

/// BAR0 of the function, mapped from its sysfs `resource0`.
pub struct Bar0 {
    base: NonNull<u8>,
    len: usize,
}

impl Bar0 {
    /// Maps the whole of `path` (a sysfs `resourceN` file) for reading and writing.
    pub fn map(path: &Path) -> Result<Bar0, String> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let len = file
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len() as usize;
        if len < BAR0_NEEDED {
            return Err(format!(
                "{} is {len} bytes, edu's BAR0 has at least {BAR0_NEEDED:#x}",
                path.display()
            ));
        }
        // SAFETY: a fresh shared mapping chosen by the kernel (no address hint), of `len`
        // bytes of an open file descriptor at offset 0; nothing else in this process
        // aliases it, and the result is checked before use.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(format!(
                "cannot map {}: {}",
                path.display(),
                io::Error::last_os_error()
            ));
        }
        let base = NonNull::new(base.cast::<u8>())
            .ok_or_else(|| format!("cannot map {}: null mapping", path.display()))?;
        Ok(Bar0 { base, len })
    }

    /// The register at `offset` (4-aligned, inside the registers the tools use).
    fn register(&self, offset: usize) -> *mut u32 {
        assert!(offset % 4 == 0 && offset + 4 <= self.len.min(BAR0_NEEDED));
        // SAFETY: `offset + 4 <= len` (asserted), so the pointer stays inside the mapping.
        unsafe { self.base.as_ptr().add(offset).cast::<u32>() }
    }

    /// Reads a 32-bit register (one 4-byte access, as edu requires). `offset` is one of
    /// the `REG_*` constants.
    pub fn read(&self, offset: usize) -> u32 {
        // SAFETY: `register` returns an aligned pointer inside the live mapping; a volatile
        // access reaches the device exactly once.
        unsafe { self.register(offset).read_volatile() }
    }

    /// Writes a 32-bit register. `offset` is one of the `REG_*` constants.
    pub fn write(&self, offset: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { self.register(offset).write_volatile(value) }
    }

    /// Acknowledges an interrupt left pending from before (if any) and returns the status
    /// register as it was found.
    pub fn clear_status(&self) -> u32 {
        let status = self.read(REG_IRQ_STATUS);
        if status != 0 {
            self.write(REG_IRQ_ACK, status);
        }
        status
    }

    /// After interrupt `index` (0-based) of `bit` arrived, `latency` after the raise:
    /// checks that the bit is in the status register, acknowledges it and reports both
    /// status values.
    pub fn acknowledge(&self, index: u32, bit: u32, latency: Duration) -> Result<Raised, String> {
        let status = self.read(REG_IRQ_STATUS);
        if status & bit == 0 {
            return Err(format!(
                "interrupt {} arrived but the status register is {status:#x}, without the raised {bit:#x}",
                index + 1
            ));
        }
        self.write(REG_IRQ_ACK, bit);
        Ok(Raised {
            bit,
            latency_us: latency.as_secs_f64() * 1e6,
            status,
            status_after_ack: self.read(REG_IRQ_STATUS),
        })
    }
}

/// One edu interrupt raised, received and acknowledged, as the interrupt tools report it
/// (flattened into each tool's own record of the interrupt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Raised {
    /// The value written to the raise register (`0x60`).
    pub bit: u32,
    /// From the raise write to the tool seeing the interrupt, in microseconds.
    pub latency_us: f64,
    /// The interrupt status register (`0x24`) when the interrupt arrived.
    pub status: u32,
    /// The interrupt status register after the acknowledge write (`0x64`).
    pub status_after_ack: u32,
}

impl Raised {
    /// Whether the raised bit was in the status register on arrival and the acknowledge
    /// cleared the status.
    pub fn acknowledged(&self) -> bool {
        self.status & self.bit != 0 && self.status_after_ack == 0
    }
}

/// The smallest and largest latency in microseconds (`None` without interrupts).
pub fn latency_range_us<'a>(raised: impl IntoIterator<Item = &'a Raised>) -> Option<(f64, f64)> {
    raised
        .into_iter()
        .map(|r| (r.latency_us, r.latency_us))
        .reduce(|(lo, hi), (l, h)| (lo.min(l), hi.max(h)))
}

impl Drop for Bar0 {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `map` created; no reference into it outlives
        // `self`.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

/// Checks that `dev` (a function's sysfs directory, e.g.
/// `/sys/bus/pci/devices/0000:00:01.0`) exists and is an edu function.
pub fn check_function(dev: &Path) -> Result<(), String> {
    let bdf = dev
        .file_name()
        .map_or_else(|| dev.display().to_string(), |n| n.to_string_lossy().into());
    if !dev.is_dir() {
        return Err(format!(
            "no PCI function {bdf} ({} is missing)",
            dev.display()
        ));
    }
    let id = |name: &str| {
        std::fs::read_to_string(dev.join(name))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let (vendor, device) = (id("vendor"), id("device"));
    if vendor != EDU_VENDOR || device != EDU_DEVICE {
        return Err(format!(
            "{bdf} is {vendor}:{device}, not QEMU's edu ({EDU_VENDOR}:{EDU_DEVICE})"
        ));
    }
    Ok(())
}

/// Maps BAR0 of the edu function at `dev` (its sysfs directory) and checks the
/// identification register; returns the mapping and the register's value.
pub fn open_bar0(dev: &Path) -> Result<(Bar0, u32), String> {
    let bar = Bar0::map(&dev.join("resource0"))?;
    let ident = bar.read(REG_IDENT);
    if ident != EDU_IDENT {
        return Err(format!(
            "{}: ident register {ident:#010x}, want {EDU_IDENT:#010x} (edu 1.0)",
            dev.display()
        ));
    }
    Ok((bar, ident))
}
