//! `msi-test <BDF> [--count N] [--timeout-ms T] [--vector V]`: has QEMU's `edu` device
//! signal its interrupt by MSI N times and waits for each message to reach a CPU of this
//! guest (needs root; the function must not be bound to a driver).
//!
//! The tool programs the MSI capability itself through sysfs `config` (address: CPU 0's
//! local APIC, data: vector V, default `0xf5`, which Linux does not use), enables memory
//! space, bus mastering and INTx Disable in the Command register, and reads both back.
//! Each round raises a bit through BAR0 (`0x60`), waits on `/dev/kmsg` for Linux's record
//! of an interrupt on V (`Spurious interrupt (vector 0xf5) on CPU#0. Acked`), reads the
//! `SPU` count of `/proc/interrupts`, checks the status register (`0x24`) and acknowledges
//! the bit (`0x64`). MSI stays enabled afterwards, as under a bound driver (a host-side
//! VFIO count of the function stays readable until the guest ends). Prints one JSON
//! object ([`guest_tests::msi_test::Report`]); any failure is one line `msi-test: ...`
//! and exit 1. See [`guest_tests::msi_test`] for why no kernel driver takes part.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use doe_proxy::config_space::SYSFS_PCI_DEVICES;
use doe_proxy::pci_address::Bdf;
use guest_tests::edu::{self, Bar0, REG_IRQ_RAISE, REG_IRQ_STATUS};
use guest_tests::msi_test::capability::MsiCapability;
use guest_tests::msi_test::kmsg::KernelLog;
use guest_tests::msi_test::message::{self, parse_spurious};
use guest_tests::msi_test::{Interrupt, Report};
use guest_tests::pci_config::{
    ConfigFile, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY,
};
use guest_tests::proc_interrupts::counter_in;

/// The `/proc/interrupts` counter of interrupts on unused vectors.
const SPURIOUS_COUNTER: &str = "SPU";
/// The logical CPU whose local APIC the messages go to.
const TARGET_CPU: u32 = 0;
/// Vectors 0-31 are exceptions; 0xff is the APIC's own spurious vector, which Linux does
/// not acknowledge (an MSI on it would stay in service).
const VECTORS: std::ops::RangeInclusive<u8> = 0x20..=0xfe;

#[derive(Parser)]
#[command(
    name = "msi-test",
    about = "Have edu signal its interrupt by MSI N times and wait for each in the guest kernel"
)]
struct Cli {
    /// The edu function, bound to no driver, e.g. 0000:00:01.0.
    bdf: Bdf,
    /// How many interrupts to raise.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    count: u32,
    /// How long to wait for each interrupt, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=i32::MAX as u64))]
    timeout_ms: u64,
    /// The vector the messages carry (0x20-0xfe, one Linux does not use).
    #[arg(long, default_value = "0xf5", value_parser = parse_vector)]
    vector: u8,
}

/// Parses a vector written `0xf5` or `245`.
fn parse_vector(text: &str) -> Result<u8, String> {
    let value = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16),
        None => text.parse(),
    }
    .map_err(|_| format!("`{text}` is not a vector (0x20-0xfe)"))?;
    if !VECTORS.contains(&value) {
        return Err(format!("vector {value:#x} is outside 0x20-0xfe"));
    }
    Ok(value)
}

/// The `SPU` count of `/proc/interrupts`.
fn spurious_count() -> Result<u64, String> {
    let text = fs::read_to_string("/proc/interrupts")
        .map_err(|e| format!("cannot read /proc/interrupts: {e}"))?;
    counter_in(&text, SPURIOUS_COUNTER)
        .ok_or_else(|| format!("/proc/interrupts has no {SPURIOUS_COUNTER} line"))
}

/// The APIC ID of [`TARGET_CPU`].
fn target_apic_id() -> Result<u32, String> {
    let text = fs::read_to_string("/proc/cpuinfo")
        .map_err(|e| format!("cannot read /proc/cpuinfo: {e}"))?;
    message::apic_id(&text, TARGET_CPU)
        .ok_or_else(|| format!("/proc/cpuinfo has no apicid for CPU {TARGET_CPU}"))
}

/// Fails if a driver owns the function (it would own MSI too).
fn check_unbound(dev: &Path, bdf: &Bdf) -> Result<(), String> {
    match fs::read_link(dev.join("driver")) {
        Ok(driver) => Err(format!(
            "{bdf} is bound to {}; unbind it first (msi-test programs MSI itself)",
            driver.file_name().map_or_else(
                || driver.display().to_string(),
                |n| n.to_string_lossy().into()
            )
        )),
        Err(_) => Ok(()),
    }
}

/// Sets Memory Space, Bus Master and INTx Disable in the Command register (as Linux does
/// for a driver that uses MSI) and returns the register read back.
fn enable_function(config: &ConfigFile) -> Result<u16, String> {
    let wanted = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE;
    let command = config.read_u16(PCI_COMMAND)?;
    if command & wanted != wanted {
        config.write_u16(PCI_COMMAND, command | wanted)?;
    }
    config.read_u16(PCI_COMMAND)
}

/// Raises interrupt `i` (of `cli.count`) and waits for it in the kernel log.
fn one_interrupt(cli: &Cli, i: u32, bar: &Bar0, log: &mut KernelLog) -> Result<Interrupt, String> {
    let bit = 1u32 << (i % 32);
    let ours = |text: &str| parse_spurious(text).is_some_and(|r| r.vector == cli.vector);
    let raised = Instant::now();
    bar.write(REG_IRQ_RAISE, bit);
    let Some(record) = log.wait_for(Duration::from_millis(cli.timeout_ms), ours)? else {
        return Err(format!(
            "no interrupt within {} ms (interrupt {} of {}; edu status {:#x}, {SPURIOUS_COUNTER} count {})",
            cli.timeout_ms,
            i + 1,
            cli.count,
            bar.read(REG_IRQ_STATUS),
            spurious_count().map_or_else(|e| e, |n| n.to_string())
        ));
    };
    let latency = raised.elapsed();
    Ok(Interrupt {
        raised: bar.acknowledge(i, bit, latency)?,
        kernel_record: record,
        spurious_count: spurious_count()?,
    })
}

fn run(cli: &Cli) -> Result<Report, String> {
    let dev = PathBuf::from(SYSFS_PCI_DEVICES).join(cli.bdf.to_string());
    edu::check_function(&dev)?;
    check_unbound(&dev, &cli.bdf)?;
    let config = ConfigFile::open(&dev.join("config"))?;
    let msi = MsiCapability::find(&config).map_err(|e| format!("{}: {e}", cli.bdf))?;
    let apic_id = target_apic_id()?;
    let address = message::address(apic_id)?;
    // Opened before MSI is enabled, so no record of ours can be missed.
    let mut log = KernelLog::open()?;

    msi.program(&config, address, message::data(cli.vector))?;
    let state = msi.read(&config)?;
    let command = enable_function(&config)?;
    let (bar, ident) = edu::open_bar0(&dev)?;
    let initial_status = bar.clear_status();
    let spurious_before = spurious_count()?;

    let mut interrupts = Vec::new();
    for i in 0..cli.count {
        interrupts.push(one_interrupt(cli, i, &bar, &mut log)?);
    }
    Ok(Report {
        device: cli.bdf.to_string(),
        ident,
        msi_capability: msi.offset,
        msi_control: state.control,
        msi_enabled: state.enabled(),
        msi_address: state.address,
        msi_data: state.data,
        vector: cli.vector,
        apic_id,
        command,
        initial_status,
        timeout_ms: cli.timeout_ms,
        spurious_before,
        interrupts,
    })
}

fn main() -> ExitCode {
    guest_tests::tool::finish("msi-test", run(&Cli::parse()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use guest_tests::msi_test::DEFAULT_VECTOR;

    #[test]
    fn vectors_are_parsed_in_hex_or_decimal() {
        assert_eq!(parse_vector("0xf5"), Ok(DEFAULT_VECTOR));
        assert_eq!(parse_vector("245"), Ok(0xf5));
        assert_eq!(parse_vector("0X20"), Ok(0x20));
        assert!(parse_vector("0xff")
            .unwrap_err()
            .contains("outside 0x20-0xfe"));
        assert!(parse_vector("0x10").unwrap_err().contains("outside"));
        assert!(parse_vector("0x100").unwrap_err().contains("not a vector"));
        assert!(parse_vector("five").unwrap_err().contains("not a vector"));
    }
}
