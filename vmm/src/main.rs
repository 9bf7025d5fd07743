//! The `vmm` binary: parse the command line, boot the guest, map the outcome to an exit code.
//!
//! Exit codes: 0 the guest powered off; 1 any failure; 2 bad command line; 3 the guest
//! asked for a reset (or triple-faulted). Failures print one line on stderr.

use std::process::ExitCode;

use vmm::exit::VmExit;
use vmm::{builder, cli, logger};

/// The guest powered off.
const EXIT_POWER_OFF: u8 = 0;
/// Any failure.
const EXIT_FAILURE: u8 = 1;
/// Bad command line.
const EXIT_USAGE: u8 = 2;
/// The guest reset itself.
const EXIT_RESET: u8 = 3;

fn main() -> ExitCode {
    logger::init();
    let args = match cli::parse_from(std::env::args_os()) {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("vmm: {}", cli::one_line(&e));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Err(e) = vmm::seccomp::set_mode(args.seccomp) {
        eprintln!("vmm: {e}");
        return ExitCode::from(EXIT_FAILURE);
    }
    match builder::run(&args) {
        Ok(VmExit::PowerOff) => ExitCode::from(EXIT_POWER_OFF),
        Ok(VmExit::Reset) => {
            eprintln!("vmm: guest requested a reset");
            ExitCode::from(EXIT_RESET)
        }
        Ok(VmExit::Error(msg)) => {
            eprintln!("vmm: {msg}");
            ExitCode::from(EXIT_FAILURE)
        }
        Err(e) => {
            eprintln!("vmm: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
