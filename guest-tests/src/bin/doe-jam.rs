//! `doe-jam`: a broken host requester, for the contention scenario's recovery part. On
//! the function's first DOE mailbox it writes, over and over, one garbage dword and Go on
//! the raw registers (sysfs `config`), and never aborts nor reads. On QEMU's DOE
//! (`hw/pci/pcie_doe.c`) each Go discards the malformed object together with whatever
//! request another requester was writing (silently: no Error), so the others' exchanges
//! are lost and time out. (Popping the Read Data Mailbox in the same loop, to steal
//! responses and set Error by underflow, crashed QEMU 10's L1 with SIGSEGV in the bench:
//! not done.) It stops when `--until` names a file that exists, and prints one JSON line:
//! the rounds made and for how long.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use doe_proxy::config_space::{Access, ConfigSpace, SysfsConfig};
use doe_proxy::ext_cap::find_doe_mailboxes;
use doe_proxy::mailbox::regs::{CTRL_GO, DOE_CTRL, DOE_WRITE};
use doe_proxy::pci_address::Bdf;
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "doe-jam",
    about = "Jam a DOE mailbox (garbage and Go, never an abort) until a file exists"
)]
struct Cli {
    /// The function, e.g. 0000:0d:00.0.
    bdf: Bdf,
    /// Stop once this file exists.
    #[arg(long, value_name = "FILE")]
    until: PathBuf,
}

/// What the jam writes into the Write Data Mailbox: not a data object header.
const GARBAGE: u32 = 0xdead_beef;

#[derive(Serialize)]
struct Report {
    device: String,
    mailbox: u16,
    rounds: u64,
    seconds: f64,
}

fn run(cli: &Cli) -> Result<Report, String> {
    let cfg = SysfsConfig::open(&cli.bdf, Access::ReadWrite).map_err(|e| e.to_string())?;
    let offset = *find_doe_mailboxes(&cfg)
        .map_err(|e| e.to_string())?
        .first()
        .ok_or_else(|| format!("{} has no DOE mailbox", cli.bdf))?;
    let started = Instant::now();
    let mut rounds = 0u64;
    while !cli.until.exists() {
        for _ in 0..64 {
            cfg.write_u32(offset + DOE_WRITE, GARBAGE)
                .map_err(|e| e.to_string())?;
            cfg.write_u32(offset + DOE_CTRL, CTRL_GO)
                .map_err(|e| e.to_string())?;
            rounds += 1;
        }
    }
    Ok(Report {
        device: cli.bdf.to_string(),
        mailbox: offset,
        rounds,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn main() -> ExitCode {
    guest_tests::tool::finish_compact("doe-jam", run(&Cli::parse()))
}
