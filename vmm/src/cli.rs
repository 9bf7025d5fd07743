//! The command line (a contract: scripts and later issues rely on these flags).

use std::path::PathBuf;

use clap::Parser;
use policies::pci_address::{Bdf, BdfError};

/// Largest number of vCPUs: APIC IDs are 8 bits in the MADT's Processor Local APIC
/// structure and one ID is left for the IOAPIC.
pub const MAX_VCPUS: u8 = 254;

/// One MiB.
const MIB: u64 = 1 << 20;
/// Largest guest memory accepted on the command line (1 TiB).
const MAX_MEMORY: u64 = 1 << 40;

/// Boots a Linux guest (bzImage + initramfs + command line) on KVM.
///
/// The guest's power-off ends vmm with exit code 0; any failure, and a guest reset,
/// ends it non-zero with one line on stderr.
#[derive(Debug, Parser)]
#[command(name = "vmm", version)]
pub struct Cli {
    /// The guest kernel (a bzImage with a 64-bit entry point).
    #[arg(long, value_name = "bzImage")]
    pub kernel: PathBuf,
    /// The initramfs to hand to the kernel.
    #[arg(long, value_name = "FILE")]
    pub initramfs: Option<PathBuf>,
    /// The kernel command line.
    #[arg(long, value_name = "STRING", default_value = "console=ttyS0")]
    pub cmdline: String,
    /// Guest RAM: a size with a K, M, G or T suffix (binary units); a bare number is MiB.
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = parse_memory_size)]
    pub memory: u64,
    /// Number of vCPUs.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=i64::from(MAX_VCPUS)))]
    pub cpus: u8,
    /// Assign a host PCI function to the guest: `vfio=<BDF>` (repeatable).
    #[arg(long = "device", value_name = "vfio=BDF", value_parser = parse_device)]
    pub devices: Vec<DeviceSpec>,
    /// Where the guest's serial console (COM1) goes: `stdout` or a file path.
    #[arg(long, value_name = "stdout|FILE", default_value = "stdout", value_parser = parse_serial)]
    pub serial: SerialTarget,
    /// Path of the control socket (a line protocol: `policy reload`, `policy show`,
    /// `stats`); only root and vmm's own user may use it.
    #[arg(long, value_name = "PATH")]
    pub api_socket: Option<PathBuf>,
    /// The control socket's file mode, octal.
    #[arg(long, visible_alias = "control-socket-mode", value_name = "OCTAL",
          default_value = "0600", value_parser = doe_proxy::socket::listener::parse_socket_mode)]
    pub api_socket_mode: u32,
    /// Share the assigned functions' DOE mailboxes with host users through this socket
    /// while the guest runs (`doectl --socket <path>`; the protocol is doe-proxy's, see
    /// doe-proxy/README.md). Host users are identified by their uid/gid and judged by
    /// the same policy as the guest.
    #[arg(long, value_name = "PATH")]
    pub doe_socket: Option<PathBuf>,
    /// The DOE socket's file mode, octal.
    #[arg(long, value_name = "OCTAL", default_value = "0660", value_parser = doe_proxy::socket::listener::parse_socket_mode)]
    pub doe_socket_mode: u32,
    /// The DOE policy file (TOML); the built-in default policy when absent.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Where the audit record of every DOE denial goes: `stderr` or a file (appended).
    #[arg(long, value_name = "stderr|FILE", default_value = "stderr", value_parser = parse_audit)]
    pub audit: AuditTarget,
    /// The guest's name (policies refer to guests by name).
    #[arg(long, value_name = "NAME", default_value = "guest")]
    pub name: String,
    /// What a system call outside a thread's seccomp filter does: trap, kill, log or off.
    #[arg(long, value_name = "MODE", default_value = "trap", value_enum)]
    pub seccomp: crate::seccomp::SeccompMode,
    /// Let KVM queue the guest's writes to the virtual DOE registers (request dwords, Go,
    /// pops) instead of exiting on each: `on` or `off`.
    #[arg(long, value_name = "on|off", default_value = "on", value_enum)]
    pub doe_exit_coalescing: OnOff,
    /// SPDM leases on each physical mailbox: a client's GET_VERSION holds the responder
    /// until its sequence ends (or 2 s idle), other clients' CMA/SPDM requests wait, so
    /// nobody's SPDM connection is reset under it: `on` or `off`.
    #[arg(long, value_name = "on|off", default_value = "on", value_enum)]
    pub doe_spdm_leases: OnOff,
    /// The longest a vCPU waits, in microseconds, for the result of its guest's DOE
    /// exchange after the guest's Go or Status read (so Linux finds Data Object Ready at
    /// its first read and never sleeps its poll interval); 0: never wait.
    #[arg(long, value_name = "µs", default_value_t = DEFAULT_DOE_COMPLETION_WAIT_US,
          value_parser = clap::value_parser!(u64).range(0..=MAX_DOE_COMPLETION_WAIT_US))]
    pub doe_completion_wait: u64,
}

/// `--doe-completion-wait`'s default, in µs: chosen from measurement in the nested bench,
/// where a CDAT exchange completes 0.2–0.4 ms after Go (vmm/README.md, "Completion wait").
pub const DEFAULT_DOE_COMPLETION_WAIT_US: u64 = 1000;

/// `--doe-completion-wait`'s ceiling, in µs: a tenth of Linux's one-second DOE timeout, so
/// a vCPU can never be held long enough to matter to the guest's own timeouts.
pub const MAX_DOE_COMPLETION_WAIT_US: u64 = 100_000;

/// A switch on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Where the serial console's output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerialTarget {
    /// vmm's standard output.
    Stdout,
    /// A file, created or truncated.
    File(PathBuf),
}

/// Where the DOE audit log goes (shared with doe-proxyd).
pub use doe_proxy::admin::AuditTarget;

/// A `--device` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSpec {
    /// A host function assigned through VFIO.
    Vfio(Bdf),
}

/// Parses `512M`, `1G`, `2048` (MiB), `1048576K`; the result must be whole MiB.
pub fn parse_memory_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, suffix) = s.split_at(split);
    if digits.is_empty() {
        return Err(format!("'{s}' is not a size (expected e.g. 512M or 1G)"));
    }
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size (expected e.g. 512M or 1G)"))?;
    let unit: u64 = match suffix.to_ascii_uppercase().as_str() {
        "" | "M" | "MB" | "MIB" => MIB,
        "K" | "KB" | "KIB" => 1 << 10,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => return Err(format!("unknown size suffix '{suffix}' (use K, M, G or T)")),
    };
    let bytes = value
        .checked_mul(unit)
        .filter(|b| *b <= MAX_MEMORY)
        .ok_or_else(|| format!("'{s}' is larger than the maximum of 1T"))?;
    if bytes == 0 {
        return Err("memory size must not be zero".to_owned());
    }
    if bytes % MIB != 0 {
        return Err(format!("'{s}' is not a whole number of MiB"));
    }
    Ok(bytes)
}

/// Parses `vfio=<BDF>`, the host address `dddd:bb:dd.f` or `bb:dd.f` (hexadecimal; the
/// short form is domain 0), as [`Bdf`] parses it.
pub fn parse_device(s: &str) -> Result<DeviceSpec, String> {
    match s.split_once('=') {
        Some(("vfio", bdf)) => bdf
            .parse()
            .map(DeviceSpec::Vfio)
            .map_err(|e: BdfError| e.to_string()),
        _ => Err(format!("'{s}' is not a device (expected vfio=<BDF>)")),
    }
}

/// Parses `stdout` or a file path.
pub fn parse_serial(s: &str) -> Result<SerialTarget, String> {
    match s {
        "" => Err("the serial target must be 'stdout' or a file path".to_owned()),
        "stdout" => Ok(SerialTarget::Stdout),
        path => Ok(SerialTarget::File(PathBuf::from(path))),
    }
}

/// Parses `--audit`: `stderr` or a file path.
pub fn parse_audit(s: &str) -> Result<AuditTarget, String> {
    AuditTarget::parse(s)
}

/// Parses the command line into a [`Cli`], or returns clap's error.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Cli::try_parse_from(args)
}

/// Reduces a clap error to the one line vmm prints for a bad command line.
pub fn one_line(err: &clap::Error) -> String {
    // clap's first paragraph is the message (possibly over several lines); the rest is usage.
    let rendered = err.render().to_string();
    let message: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let line = message.join(" ");
    match line.strip_prefix("error: ") {
        Some(rest) => rest.to_owned(),
        None if line.is_empty() => "invalid command line".to_owned(),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Result<Cli, clap::Error> {
        let mut args = vec!["vmm", "--kernel", "/k"];
        args.extend_from_slice(extra);
        parse_from(args)
    }

    #[test]
    fn defaults() {
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.memory, 512 * MIB);
        assert_eq!(cli.cpus, 1);
        assert_eq!(cli.serial, SerialTarget::Stdout);
        assert!(cli.devices.is_empty());
        assert_eq!(cli.name, "guest");
        assert_eq!(cli.api_socket_mode, 0o600);
        assert_eq!(cli.doe_socket_mode, 0o660);
    }

    #[test]
    fn socket_modes() {
        assert_eq!(
            parse(&["--api-socket-mode", "0660"])
                .unwrap()
                .api_socket_mode,
            0o660
        );
        assert_eq!(
            parse(&["--control-socket-mode", "640"])
                .unwrap()
                .api_socket_mode,
            0o640
        );
        let e = parse(&["--api-socket-mode", "0999"]).unwrap_err();
        let line = one_line(&e);
        assert!(
            line.contains("--api-socket-mode") && line.contains("octal"),
            "{line}"
        );
    }

    #[test]
    fn every_flag() {
        let cli = parse(&[
            "--initramfs",
            "/i",
            "--cmdline",
            "console=ttyS0 panic=-1",
            "--memory",
            "1G",
            "--cpus",
            "2",
            "--device",
            "vfio=0000:0d:00.0",
            "--device",
            "vfio=01:00.1",
            "--serial",
            "/tmp/s.log",
            "--api-socket",
            "/run/vmm.sock",
            "--name",
            "l2",
        ])
        .unwrap();
        assert_eq!(cli.memory, 1 << 30);
        assert_eq!(cli.cpus, 2);
        assert_eq!(cli.cmdline, "console=ttyS0 panic=-1");
        assert_eq!(cli.serial, SerialTarget::File("/tmp/s.log".into()));
        assert_eq!(cli.devices.len(), 2);
        assert_eq!(
            cli.devices[1],
            DeviceSpec::Vfio(Bdf::new(0, 1, 0, 1).unwrap())
        );
        assert_eq!(cli.name, "l2");
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory_size("512M"), Ok(512 * MIB));
        assert_eq!(parse_memory_size("512"), Ok(512 * MIB));
        assert_eq!(parse_memory_size("2g"), Ok(2 << 30));
        assert_eq!(parse_memory_size("1024K"), Ok(MIB));
        assert_eq!(parse_memory_size("1GiB"), Ok(1 << 30));
        assert!(parse_memory_size("0").unwrap_err().contains("zero"));
        assert!(parse_memory_size("1000K")
            .unwrap_err()
            .contains("whole number of MiB"));
        assert!(parse_memory_size("12Q").unwrap_err().contains("suffix"));
        assert!(parse_memory_size("M").unwrap_err().contains("not a size"));
        assert!(parse_memory_size("2T").unwrap_err().contains("maximum"));
    }

    #[test]
    fn bdfs() {
        let vfio = |s: &str| match parse_device(&format!("vfio={s}")) {
            Ok(DeviceSpec::Vfio(bdf)) => Ok(bdf),
            Err(e) => Err(e),
        };
        assert_eq!(vfio("0000:0d:00.0").unwrap().to_string(), "0000:0d:00.0");
        assert_eq!(vfio("0d:1f.7").unwrap().to_string(), "0000:0d:1f.7");
        assert_eq!(vfio("ABCD:0D:00.1").unwrap().to_string(), "abcd:0d:00.1");
        for bad in [
            "",
            "0d:00",
            "0d:20.0",
            "0d:00.8",
            "x:00.0",
            "00000:00:00.0",
            "0:0:0:0.0",
        ] {
            assert!(vfio(bad).is_err(), "{bad}");
        }
        // The message says what is wrong with the address.
        assert!(vfio("0d:20.0").unwrap_err().contains("device number 0x20"));
        assert!(vfio("0d:00").unwrap_err().contains("not a PCI address"));
        let e = parse(&["--device", "vfio=0d:00.8"]).unwrap_err();
        let line = one_line(&e);
        assert!(
            line.contains("vfio=0d:00.8") && line.contains("function number 0x8"),
            "{line}"
        );
    }

    #[test]
    fn bad_command_lines_give_one_line() {
        let e = parse(&["--memory", "12Q"]).unwrap_err();
        let line = one_line(&e);
        assert!(
            line.contains("--memory") && line.contains("suffix"),
            "{line}"
        );
        let e = parse(&["--device", "pci=0d:00.0"]).unwrap_err();
        assert!(one_line(&e).contains("expected vfio=<BDF>"));
        let e = parse(&["--cpus", "0"]).unwrap_err();
        assert!(one_line(&e).contains("--cpus"));
        let e = parse_from(["vmm"]).unwrap_err();
        assert!(one_line(&e).contains("--kernel"));
    }
}
