//! `intx-test <BDF> [--count N] [--timeout-ms T]`: raises the legacy INTx interrupt of
//! QEMU's `edu` device N times and waits for each through `uio_pci_generic`, which the
//! function must already be bound to (needs root). Each round re-enables INTx, raises a
//! bit through BAR0 (`0x60`), `poll`s `/dev/uioN`, reads the interrupt count, checks the
//! status register (`0x24`) and acknowledges the bit (`0x64`). Prints one JSON object
//! ([`guest_tests::intx_test::Report`]); any failure is one line `intx-test: ...` and
//! exit 1.
//!
//! uio_pci_generic's handler masks the interrupt by setting INTx Disable in the Command
//! register and has no `irqcontrol` (a write to `/dev/uioN` fails with ENOSYS), so, as
//! the kernel's UIO how-to does, the tool clears INTx Disable through sysfs `config`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use clap::Parser;
use doe_proxy::config_space::SYSFS_PCI_DEVICES;
use doe_proxy::pci_address::Bdf;
use guest_tests::intx_test::{Interrupt, Report, EDU_DEVICE, EDU_VENDOR};

/// edu's BAR0 registers (QEMU `hw/misc/edu.c`), all 32-bit.
const REG_IDENT: usize = 0x00;
const REG_IRQ_STATUS: usize = 0x24;
const REG_IRQ_RAISE: usize = 0x60;
const REG_IRQ_ACK: usize = 0x64;
/// The identification register's value: edu 1.0 (`0xRRrr00ed`).
const EDU_IDENT: u32 = 0x0100_00ed;
/// The part of BAR0 the tool touches.
const BAR0_NEEDED: usize = REG_IRQ_ACK + 4;
/// The Command register in config space, and its INTx Disable bit (PCI r3.0 §6.2.2).
const PCI_COMMAND: u64 = 0x04;
const PCI_COMMAND_INTX_DISABLE: u16 = 1 << 10;

#[derive(Parser)]
#[command(
    name = "intx-test",
    about = "Raise edu's INTx N times and wait for each through uio_pci_generic"
)]
struct Cli {
    /// The edu function, bound to uio_pci_generic, e.g. 0000:00:01.0.
    bdf: Bdf,
    /// How many interrupts to raise.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    count: u32,
    /// How long to wait for each interrupt, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=i32::MAX as u64))]
    timeout_ms: u64,
}

/// BAR0 of the function, mapped from its sysfs `resource0`.
struct Bar0 {
    base: NonNull<u8>,
    len: usize,
}

impl Bar0 {
    /// Maps the whole of `path` (a sysfs `resourceN` file) for reading and writing.
    fn map(path: &Path) -> Result<Bar0, String> {
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

    /// The register at `offset` (4-aligned, inside [`BAR0_NEEDED`]).
    fn register(&self, offset: usize) -> *mut u32 {
        assert!(offset % 4 == 0 && offset + 4 <= self.len.min(BAR0_NEEDED));
        // SAFETY: `offset + 4 <= len` (asserted), so the pointer stays inside the mapping.
        unsafe { self.base.as_ptr().add(offset).cast::<u32>() }
    }

    /// Reads a 32-bit register (one 4-byte access, as edu requires).
    fn read(&self, offset: usize) -> u32 {
        // SAFETY: `register` returns an aligned pointer inside the live mapping; a volatile
        // access reaches the device exactly once.
        unsafe { self.register(offset).read_volatile() }
    }

    /// Writes a 32-bit register.
    fn write(&self, offset: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { self.register(offset).write_volatile(value) }
    }
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

/// The name of the function's uio device (`uio0`), from `<dev>/uio/`.
fn uio_name(dev: &Path, bdf: &Bdf) -> Result<String, String> {
    let dir = dev.join("uio");
    let names = fs::read_dir(&dir)
        .map_err(|_| format!("{bdf} has no uio device: bind it to uio_pci_generic first"))?;
    names
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .find(|n| n.starts_with("uio"))
        .ok_or_else(|| format!("{bdf} has no uio device in {}", dir.display()))
}

/// Waits until `uio` is readable (an interrupt arrived) or `timeout` passes; `false` on
/// timeout.
fn wait_readable(uio: &File, timeout: Duration) -> Result<bool, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: uio.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `pfd` is one valid pollfd that lives across the call (nfds = 1).
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        match n {
            0 => return Ok(false),
            n if n > 0 => {
                if pfd.revents & libc::POLLIN != 0 {
                    return Ok(true);
                }
                return Err(format!(
                    "poll on the uio device: revents {:#x}",
                    pfd.revents
                ));
            }
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(format!("poll on the uio device: {e}"));
                }
            }
        }
    }
}

/// Clears INTx Disable in the Command register through sysfs `config` (one 16-bit read
/// and, if the bit is set, one 16-bit write, as the kernel's own `pci_intx`).
fn enable_intx(config: &File) -> Result<(), String> {
    let mut word = [0u8; 2];
    config
        .read_exact_at(&mut word, PCI_COMMAND)
        .map_err(|e| format!("cannot read the Command register: {e}"))?;
    let command = u16::from_le_bytes(word);
    if command & PCI_COMMAND_INTX_DISABLE != 0 {
        let enabled = command & !PCI_COMMAND_INTX_DISABLE;
        config
            .write_all_at(&enabled.to_le_bytes(), PCI_COMMAND)
            .map_err(|e| format!("cannot clear INTx Disable in the Command register: {e}"))?;
    }
    Ok(())
}

fn read_id(dev: &Path, name: &str) -> String {
    fs::read_to_string(dev.join(name))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn run(cli: &Cli) -> Result<Report, String> {
    let dev = PathBuf::from(SYSFS_PCI_DEVICES).join(cli.bdf.to_string());
    if !dev.is_dir() {
        return Err(format!(
            "no PCI function {} in {SYSFS_PCI_DEVICES}",
            cli.bdf
        ));
    }
    let (vendor, device) = (read_id(&dev, "vendor"), read_id(&dev, "device"));
    if vendor != EDU_VENDOR || device != EDU_DEVICE {
        return Err(format!(
            "{} is {vendor}:{device}, not QEMU's edu ({EDU_VENDOR}:{EDU_DEVICE})",
            cli.bdf
        ));
    }
    let uio = uio_name(&dev, &cli.bdf)?;
    let uio_path = Path::new("/dev").join(&uio);
    let mut uio_file =
        File::open(&uio_path).map_err(|e| format!("cannot open {}: {e}", uio_path.display()))?;
    let config_path = dev.join("config");
    let config = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&config_path)
        .map_err(|e| format!("cannot open {}: {e}", config_path.display()))?;
    let bar = Bar0::map(&dev.join("resource0"))?;
    let ident = bar.read(REG_IDENT);
    if ident != EDU_IDENT {
        return Err(format!(
            "{}: ident register {ident:#010x}, want {EDU_IDENT:#010x} (edu 1.0)",
            cli.bdf
        ));
    }
    let initial_status = bar.read(REG_IRQ_STATUS);
    if initial_status != 0 {
        bar.write(REG_IRQ_ACK, initial_status);
    }

    let timeout = Duration::from_millis(cli.timeout_ms);
    let mut interrupts = Vec::new();
    for i in 0..cli.count {
        let bit = 1u32 << (i % 32);
        // uio_pci_generic's handler set INTx Disable at the previous interrupt.
        enable_intx(&config)?;
        let raised = Instant::now();
        bar.write(REG_IRQ_RAISE, bit);
        if !wait_readable(&uio_file, timeout)? {
            return Err(format!(
                "no interrupt within {} ms (interrupt {} of {}; edu status {:#x})",
                cli.timeout_ms,
                i + 1,
                cli.count,
                bar.read(REG_IRQ_STATUS)
            ));
        }
        let latency = raised.elapsed();
        let mut count = [0u8; 4];
        uio_file
            .read_exact(&mut count)
            .map_err(|e| format!("cannot read the interrupt count from {uio}: {e}"))?;
        let status = bar.read(REG_IRQ_STATUS);
        if status & bit == 0 {
            return Err(format!(
                "interrupt {} arrived but the status register is {status:#x}, without the raised {bit:#x}",
                i + 1
            ));
        }
        bar.write(REG_IRQ_ACK, bit);
        interrupts.push(Interrupt {
            bit,
            uio_count: u32::from_ne_bytes(count),
            latency_us: latency.as_secs_f64() * 1e6,
            status,
            status_after_ack: bar.read(REG_IRQ_STATUS),
        });
    }
    Ok(Report {
        device: cli.bdf.to_string(),
        uio,
        ident,
        initial_status,
        timeout_ms: cli.timeout_ms,
        interrupts,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("the report serialises")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("intx-test: {e}");
            ExitCode::FAILURE
        }
    }
}
