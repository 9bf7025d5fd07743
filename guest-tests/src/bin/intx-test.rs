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

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use doe_proxy::config_space::SYSFS_PCI_DEVICES;
use doe_proxy::pci_address::Bdf;
use guest_tests::edu::{self, REG_IRQ_RAISE, REG_IRQ_STATUS};
use guest_tests::intx_test::{Interrupt, Report};
use guest_tests::pci_config::{ConfigFile, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE};
use guest_tests::wait::wait_readable;

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

/// Clears INTx Disable in the Command register through sysfs `config` (one 16-bit read
/// and, if the bit is set, one 16-bit write, as the kernel's own `pci_intx`).
fn enable_intx(config: &ConfigFile) -> Result<(), String> {
    let command = config.read_u16(PCI_COMMAND)?;
    if command & PCI_COMMAND_INTX_DISABLE != 0 {
        config.write_u16(PCI_COMMAND, command & !PCI_COMMAND_INTX_DISABLE)?;
    }
    Ok(())
}

fn run(cli: &Cli) -> Result<Report, String> {
    let dev = PathBuf::from(SYSFS_PCI_DEVICES).join(cli.bdf.to_string());
    edu::check_function(&dev)?;
    let uio = uio_name(&dev, &cli.bdf)?;
    let uio_path = Path::new("/dev").join(&uio);
    let mut uio_file =
        File::open(&uio_path).map_err(|e| format!("cannot open {}: {e}", uio_path.display()))?;
    let config = ConfigFile::open(&dev.join("config"))?;
    let (bar, ident) = edu::open_bar0(&dev)?;
    let initial_status = bar.clear_status();

    let timeout = Duration::from_millis(cli.timeout_ms);
    let mut interrupts = Vec::new();
    for i in 0..cli.count {
        let bit = 1u32 << (i % 32);
        // uio_pci_generic's handler set INTx Disable at the previous interrupt.
        enable_intx(&config)?;
        let raised = Instant::now();
        bar.write(REG_IRQ_RAISE, bit);
        if !wait_readable(&uio_file, timeout, "the uio device")? {
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
        interrupts.push(Interrupt {
            raised: bar.acknowledge(i, bit, latency)?,
            uio_count: u32::from_ne_bytes(count),
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
    guest_tests::tool::finish("intx-test", run(&Cli::parse()))
}
