//! `doectl`: the host user's DOE tool. `list` finds every function with DOE mailboxes,
//! `discover` lists the protocols of each mailbox, `cdat` reads and decodes a CXL device's
//! CDAT, `exchange` sends one raw object, `policy reload --vmm <socket>` has a running vmm
//! re-read its policy, `stats --vmm <socket>` prints its counters. With `--socket <path>`
//! the mailbox commands go through a mediator's DOE socket (`vmm --doe-socket`,
//! `doe-proxyd`) instead of the registers; without it they first check that no mediator
//! owns the function (`owned.rs`; `--force` skips the check). `doctor` reports who else may
//! use a function's mailboxes. Human output by default, `--json` for scripts; exit codes in
//! `exit.rs`.

mod cdat;
mod discover;
mod doctor;
mod exchange;
mod exit;
mod list;
mod list_socket;
mod open;
mod owned;
mod policy;
mod stats;
mod target;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use doe_proxy::mailbox::MailboxConfig;
use doe_proxy::pci_address::Bdf;

use exit::ToolError;

#[derive(Parser)]
#[command(
    name = "doectl",
    about = "Use the PCIe DOE mailboxes of a function from the host"
)]
struct Cli {
    /// Go through this DOE socket (`vmm --doe-socket`, `doe-proxyd --socket`) instead of
    /// the function's registers: list, discover, cdat and exchange.
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<std::path::PathBuf>,
    /// Drive the registers even when a mediator (vmm, doe-proxyd, a VFIO user) owns the
    /// function's DOE mailboxes: its exchanges and ours may corrupt each other.
    #[arg(long, global = true)]
    force: bool,
    #[command(subcommand)]
    command: Command,
}

/// Options of the commands that drive a mailbox.
#[derive(clap::Args, Debug, Clone)]
pub struct MailboxArgs {
    /// Use only the mailbox at this config-space offset (e.g. 0x190).
    #[arg(long, value_parser = doe_proxy::ext_cap::parse_offset)]
    pub mailbox: Option<u16>,
    /// How long to wait for the mailbox, in milliseconds (Linux waits 1 s).
    #[arg(long, default_value_t = 1000)]
    pub timeout_ms: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

impl MailboxArgs {
    /// The driver's timing for these options.
    pub fn config(&self) -> MailboxConfig {
        let timeout = Duration::from_millis(self.timeout_ms);
        MailboxConfig {
            timeout,
            abort_timeout: timeout,
            ..MailboxConfig::default()
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// List every PCI function with DOE mailboxes and their offsets.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run DOE Discovery on the function's mailboxes.
    Discover {
        /// The function, e.g. 0000:0d:00.0.
        bdf: Bdf,
        #[command(flatten)]
        args: MailboxArgs,
    },
    /// Read the function's CDAT over CXL Table Access, decode it and verify its checksum.
    Cdat {
        /// The function, e.g. 0000:0d:00.0.
        bdf: Bdf,
        #[command(flatten)]
        args: MailboxArgs,
        /// Send the Table Access requests to the --mailbox without first checking that its
        /// Discovery offers 1e98:02 (e.g. to see what a mailbox that hides it does).
        #[arg(long, requires = "mailbox")]
        no_discovery: bool,
    },
    /// Send one request object and print the response object.
    Exchange {
        /// The function, e.g. 0000:0d:00.0.
        bdf: Bdf,
        /// The request's protocol, vvvv:tt in hex (e.g. 0001:01 for CMA/SPDM).
        #[arg(value_parser = exchange::parse_protocol)]
        protocol: doe_proxy::protocol::ProtocolId,
        /// The request's payload, hex bytes (padded with zeros to whole dwords).
        // Spelled out: clap takes a bare `Vec<u8>` for many `u8` values and panics on the
        // parser's one `Vec<u8>`.
        #[arg(value_parser = exchange::parse_payload, default_value = "")]
        payload: ::std::vec::Vec<u8>,
        #[command(flatten)]
        args: MailboxArgs,
    },
    /// Report who else may use the function's DOE mailboxes (driver, host kernel, TSM,
    /// mediator, VFIO user) and whether doectl would drive them. Reads sysfs only.
    Doctor {
        /// The function, e.g. 0000:0d:00.0.
        bdf: Bdf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Talk to a running vmm about its DOE policy.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Print a running vmm's counters (guest exits by kind, DOE completion waits) as one
    /// JSON line.
    Stats {
        /// The vmm's control socket (its --api-socket).
        #[arg(long, value_name = "SOCKET")]
        vmm: std::path::PathBuf,
    },
}

/// How long `list --socket` waits for the server's answer.
const LIST_PATIENCE: Duration = Duration::from_secs(10);

/// The target of a command that drives `bdf`'s mailboxes: the socket, or the registers
/// once no mediator owns them (or `force`).
fn mailbox_target(
    socket: Option<&std::path::PathBuf>,
    force: bool,
    bdf: Bdf,
    args: &MailboxArgs,
) -> Result<target::Target, ToolError> {
    if socket.is_none() {
        owned::check(bdf, force)?;
    }
    target::Target::new(socket, args)
}

/// Parses the command line; `--force` with `--socket` is a usage error (the socket's
/// mediator drives the registers; there is nothing to force). Checked here because clap
/// checks conflicts per subcommand level and both flags are global.
fn parse_cli<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args)?;
    if cli.force && cli.socket.is_some() {
        return Err(<Cli as clap::CommandFactory>::command().error(
            clap::error::ErrorKind::ArgumentConflict,
            "--force drives the registers past a mediator; --socket goes through one: \
             give one or the other",
        ));
    }
    Ok(cli)
}

fn main() -> ExitCode {
    let cli = parse_cli(std::env::args_os()).unwrap_or_else(|e| e.exit());
    let socket = cli.socket.as_ref();
    let force = cli.force;
    let result = match cli.command {
        Command::List { json } => match socket {
            None => list::run(json),
            Some(path) => doe_proxy::socket::SocketClient::connect(path, LIST_PATIENCE)
                .map_err(ToolError::from)
                .and_then(|mut client| list_socket::run(&mut client, json)),
        },
        Command::Discover { bdf, args } => mailbox_target(socket, force, bdf, &args)
            .and_then(|mut t| discover::run(&mut t, bdf, &args)),
        Command::Cdat {
            bdf,
            args,
            no_discovery,
        } => mailbox_target(socket, force, bdf, &args)
            .and_then(|mut t| cdat::run(&mut t, bdf, &args, no_discovery)),
        Command::Exchange {
            bdf,
            protocol,
            payload,
            args,
        } => mailbox_target(socket, force, bdf, &args)
            .and_then(|mut t| exchange::run(&mut t, bdf, &args, protocol, &payload)),
        Command::Doctor { bdf, json } => doctor::run(bdf, json),
        Command::Policy { command } => policy::run(&command),
        Command::Stats { vmm } => stats::run(&vmm),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("doectl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Prints `value` as pretty JSON.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), ToolError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| ToolError::Other(e.to_string()))?;
    println!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        parse_cli(std::iter::once("doectl").chain(args.iter().copied()))
    }

    #[test]
    fn no_discovery_takes_the_given_mailbox() {
        let cli = parse(&["cdat", "0d:00.0", "--mailbox", "0x190", "--no-discovery"]).unwrap();
        match cli.command {
            Command::Cdat {
                args, no_discovery, ..
            } => {
                assert!(no_discovery);
                assert_eq!(args.mailbox, Some(0x190));
            }
            _ => panic!("not cdat"),
        }
    }

    #[test]
    fn force_is_global() {
        let cli = parse(&["discover", "0d:00.0", "--force"]).unwrap();
        assert!(cli.force);
        let cli = parse(&["--force", "cdat", "0d:00.0"]).unwrap();
        assert!(cli.force);
        assert!(!parse(&["discover", "0d:00.0"]).unwrap().force);
    }

    #[test]
    fn force_with_a_socket_is_a_usage_error() {
        let e = parse(&["--socket", "/run/d.sock", "discover", "0d:00.0", "--force"])
            .err()
            .expect("refused");
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn exchange_takes_one_hex_payload() {
        let cli = parse(&["exchange", "0d:00.0", "0001:01", "1011"]).unwrap();
        match cli.command {
            Command::Exchange {
                protocol, payload, ..
            } => {
                assert_eq!(protocol.to_string(), "0001:01");
                assert_eq!(payload, vec![0x10, 0x11]);
            }
            _ => panic!("not exchange"),
        }
        match parse(&["exchange", "0d:00.0", "0001:01"]).unwrap().command {
            Command::Exchange { payload, .. } => assert!(payload.is_empty()),
            _ => panic!("not exchange"),
        }
    }

    #[test]
    fn doctor_takes_a_function_and_json() {
        let cli = parse(&["doctor", "0d:00.0", "--json"]).unwrap();
        match cli.command {
            Command::Doctor { bdf, json } => {
                assert_eq!(bdf.to_string(), "0000:0d:00.0");
                assert!(json);
            }
            _ => panic!("not doctor"),
        }
    }

    #[test]
    fn no_discovery_without_a_mailbox_is_a_usage_error() {
        let e = parse(&["cdat", "0d:00.0", "--no-discovery"])
            .err()
            .expect("refused");
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        assert_eq!(e.exit_code(), 2);
    }
}
