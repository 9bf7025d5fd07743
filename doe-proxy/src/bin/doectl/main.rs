//! `doectl`: the host user's DOE tool. `list` finds every function with DOE mailboxes,
//! `discover` lists the protocols of each mailbox, `cdat` reads and decodes a CXL device's
//! CDAT. Human output by default, `--json` for scripts; exit codes in `exit.rs`.

mod cdat;
mod discover;
mod exit;
mod list;
mod open;

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
    #[command(subcommand)]
    command: Command,
}

/// Options of the commands that drive a mailbox.
#[derive(clap::Args, Debug, Clone)]
pub struct MailboxArgs {
    /// Use only the mailbox at this config-space offset (e.g. 0x190).
    #[arg(long, value_parser = parse_offset)]
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
    },
}

/// Parses `0x190` or `400`.
fn parse_offset(text: &str) -> Result<u16, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|e| format!("`{text}` is not a config-space offset: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::List { json } => list::run(json),
        Command::Discover { bdf, args } => discover::run(bdf, &args),
        Command::Cdat { bdf, args } => cdat::run(bdf, &args),
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
