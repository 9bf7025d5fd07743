//! `bench`: the nested QEMU bench in one command. See the workspace README.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use guest_tests::bench::initramfs::FileMapping;
use guest_tests::bench::job::{self, Job, Outcome};
use guest_tests::bench::l1_env::EnvVar;
use guest_tests::bench::layout::Layout;
use guest_tests::bench::modules::parse_module_name;
use guest_tests::bench::setup::{self, SetupOptions};
use guest_tests::bench::BenchError;
use guest_tests::scenarios;

/// Exit code when a scenario ran and failed.
const EXIT_FAILED: u8 = 1;
/// Exit code when the bench could not start (not set up, QEMU missing, bad input).
const EXIT_BENCH_ERROR: u8 = 3;

#[derive(Parser)]
#[command(
    name = "bench",
    about = "The nested QEMU bench: L1 under TCG, our binaries inside"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Parsed once per run; boxing a variant would only make the matches noisier.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Install QEMU 10, busybox-static, cpio, xz-utils and fetch the kernels (idempotent).
    Setup {
        /// Also fetch the current 7.x kernel from sid (unpacked, never installed).
        #[arg(long)]
        sid_kernel: bool,
    },
    /// List the scenarios and topologies.
    List,
    /// Run scenarios by name (or all of them with --all).
    Run {
        /// Scenario names.
        scenarios: Vec<String>,
        /// Run every scenario.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        boot: BootArgs,
    },
    /// Run your own scripts in L1 (and L2) with a topology.
    Script {
        /// The topology to boot (a file in resources/bench/topologies).
        #[arg(long)]
        topology: String,
        /// The script L1 runs as root, with our binaries on PATH.
        #[arg(long)]
        l1: PathBuf,
        /// The script L2's init runs (the L2 image is /l2/initramfs in L1).
        #[arg(long)]
        l2: Option<PathBuf>,
        /// Extra file for L1: <source>:<destination>.
        #[arg(long = "file", value_name = "SRC:DEST")]
        files: Vec<FileMapping>,
        /// Extra file for L2: <source>:<destination>.
        #[arg(long = "l2-file", value_name = "SRC:DEST")]
        l2_files: Vec<FileMapping>,
        /// A host program to carry into L1 with its libraries (known: qemu, lspci).
        #[arg(long = "l1-host-program", value_name = "NAME")]
        l1_host_programs: Vec<String>,
        /// A host program to carry into L2 with its libraries (known: qemu, lspci).
        #[arg(long = "l2-host-program", value_name = "NAME")]
        l2_host_programs: Vec<String>,
        /// One more L2 kernel for L1, at /l2/vmlinuz-<KERNEL> (a major version or a release).
        #[arg(long = "extra-l2-kernel", value_name = "KERNEL")]
        extra_l2_kernels: Vec<String>,
        /// A kernel module of the L1 kernel that L1's init loads (with its dependencies,
        /// after the topology's) before the L1 script runs.
        #[arg(long = "l1-module", value_name = "NAME", value_parser = parse_module_name)]
        l1_modules: Vec<String>,
        /// A kernel module of the L2 kernel that L2's init loads (with its dependencies, in
        /// the order given) before the L2 script runs.
        #[arg(long = "l2-module", value_name = "NAME", value_parser = parse_module_name)]
        l2_modules: Vec<String>,
        #[command(flatten)]
        boot: BootArgs,
    },
}

#[derive(Args)]
struct BootArgs {
    /// L1 kernel: a major version (6, 7) or a release; default: the Debian 6.12 kernel.
    #[arg(long)]
    kernel: Option<String>,
    /// L2 kernel, likewise.
    #[arg(long)]
    l2_kernel: Option<String>,
    /// Seconds before the boot is killed.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
    /// Do not echo the serial console (it is still logged).
    #[arg(long)]
    quiet: bool,
    /// An environment variable for the L1 script, NAME=VALUE (repeatable; the value is
    /// passed as is, never expanded).
    #[arg(long = "l1-env", value_name = "NAME=VALUE")]
    l1_env: Vec<EnvVar>,
}

impl BootArgs {
    fn apply(&self, job: &mut Job) {
        if self.kernel.is_some() {
            job.kernel.clone_from(&self.kernel);
        }
        if self.l2_kernel.is_some() {
            job.l2_kernel.clone_from(&self.l2_kernel);
        }
        job.timeout = Duration::from_secs(self.timeout);
        job.echo = !self.quiet;
        job.l1_env.clone_from(&self.l1_env);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let layout = Layout::discover();
    match execute(&layout, cli.command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_FAILED),
        Err(e) => {
            eprintln!("bench: error: {e}");
            ExitCode::from(EXIT_BENCH_ERROR)
        }
    }
}

/// Runs a command; `Ok(false)` when a scenario or script failed.
fn execute(layout: &Layout, command: Command) -> Result<bool, BenchError> {
    match command {
        Command::Setup { sid_kernel } => {
            setup::setup(layout, SetupOptions { sid_kernel })?;
            Ok(true)
        }
        Command::List => {
            println!("scenarios:");
            for s in scenarios::all() {
                println!("  {:<20} [{}] {}", s.name, s.topology, s.description);
            }
            for s in scenarios::in_progress() {
                println!(
                    "  {:<20} [{}] (in progress) {}",
                    s.name, s.topology, s.description
                );
            }
            println!("topologies:");
            let dir = layout.resources().join("topologies");
            for name in guest_tests::bench::topology::Topology::available(&dir) {
                println!("  {name}");
            }
            Ok(true)
        }
        Command::Run {
            scenarios: names,
            all,
            boot,
        } => {
            let selected = if all {
                scenarios::all()
            } else if names.is_empty() {
                return Err(BenchError::UnknownScenario(
                    "(none given; name one or use --all)".into(),
                ));
            } else {
                names
                    .iter()
                    .map(|n| {
                        scenarios::find(n).ok_or_else(|| BenchError::UnknownScenario(n.clone()))
                    })
                    .collect::<Result<Vec<_>, _>>()?
            };
            let mut results = Vec::new();
            for scenario in selected {
                let mut job = scenario.job(layout, Duration::ZERO, true);
                boot.apply(&mut job);
                let mut outcome = job::run(layout, &job)?;
                if outcome.l1_failed() {
                    // The nested bench's own failure, not a verdict: one more run, which
                    // is judged as any other.
                    // The failed run's log is kept beside the next one's.
                    let kept = outcome.log.with_extension("first.log");
                    let kept = match std::fs::rename(&outcome.log, &kept) {
                        Ok(()) => format!(" (its log is kept as {})", kept.display()),
                        Err(_) => String::new(),
                    };
                    println!(
                        "bench: scenario {}: {}; L1 failed, running the scenario once more{kept}",
                        scenario.name,
                        outcome.failure()
                    );
                    outcome = job::run(layout, &job)?;
                }
                let verdict = judge(&outcome, scenario.check);
                print!("{}", outcome.timings.render(scenario.name));
                match &verdict {
                    Ok(facts) => {
                        for fact in facts {
                            println!("  ok: {fact}");
                        }
                        println!("bench: scenario {} PASSED", scenario.name);
                    }
                    Err(why) => println!("bench: scenario {} FAILED: {why}", scenario.name),
                }
                results.push((scenario.name, verdict.is_ok()));
            }
            if results.len() > 1 {
                println!("bench: summary");
                for (name, ok) in &results {
                    println!("  {name:<20} {}", if *ok { "passed" } else { "FAILED" });
                }
            }
            Ok(results.iter().all(|(_, ok)| *ok))
        }
        Command::Script {
            topology,
            l1,
            l2,
            files,
            l2_files,
            l1_host_programs,
            l2_host_programs,
            extra_l2_kernels,
            l1_modules,
            l2_modules,
            boot,
        } => {
            for script in std::iter::once(&l1).chain(&l2) {
                if !script.is_file() {
                    return Err(BenchError::Io {
                        path: script.clone(),
                        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such script"),
                    });
                }
            }
            let mut job = Job {
                // Unique per invocation, so several `bench script` runs can share a machine.
                name: format!("script-{}", std::process::id()),
                topology,
                kernel: None,
                l2_kernel: None,
                extra_l2_kernels,
                l1_script: l1,
                l1_env: Vec::new(),
                l2_script: l2,
                files,
                l2_files,
                l1_host_programs,
                l2_host_programs,
                l1_modules,
                l2_modules,
                timeout: Duration::ZERO,
                echo: true,
            };
            boot.apply(&mut job);
            let outcome = job::run(layout, &job)?;
            print!("{}", outcome.timings.render("script"));
            if outcome.script_passed() {
                println!("bench: script passed");
                Ok(true)
            } else {
                println!("bench: script FAILED: {}", outcome.failure());
                Ok(false)
            }
        }
    }
}

/// A scenario passes when its L1 script passed and its host-side check holds.
fn judge(
    outcome: &Outcome,
    check: guest_tests::bench::scenario::Check,
) -> Result<Vec<String>, String> {
    if !outcome.script_passed() {
        return Err(outcome.failure());
    }
    check(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(
            ["bench", "script", "--topology", "cxl", "--l1", "a.sh"]
                .iter()
                .chain(args),
        )
    }

    fn l2_modules(cli: Cli) -> Vec<String> {
        match cli.command {
            Command::Script { l2_modules, .. } => l2_modules,
            _ => panic!("not a script command"),
        }
    }

    #[test]
    fn l2_modules_repeat_in_order() {
        let cli = parse(&["--l2-module", "uio_pci_generic", "--l2-module", "kvm-amd"]).unwrap();
        assert_eq!(l2_modules(cli), ["uio_pci_generic", "kvm-amd"]);
        assert!(l2_modules(parse(&[]).unwrap()).is_empty());
    }

    #[test]
    fn l1_env_repeats_for_run_and_script() {
        let cli = parse(&["--l1-env", "A=1 2", "--l1-env", "B='x'"]).unwrap();
        let Command::Script { boot, .. } = cli.command else {
            panic!("not a script command")
        };
        let names: Vec<_> = boot.l1_env.iter().map(|v| (&*v.name, &*v.value)).collect();
        assert_eq!(names, [("A", "1 2"), ("B", "'x'")]);
        let run = Cli::try_parse_from([
            "bench",
            "run",
            "guest-doe-bench",
            "--l1-env",
            "VMM_ARGS=--doe-completion-wait 0",
        ])
        .unwrap();
        let Command::Run { boot, .. } = run.command else {
            panic!("not a run command")
        };
        assert_eq!(boot.l1_env[0].value, "--doe-completion-wait 0");
        assert!(parse(&["--l1-env", "1X=y"]).is_err());
    }

    #[test]
    fn a_bad_l2_module_name_is_refused() {
        let e = parse(&["--l2-module", "../uio.ko"]).err().unwrap();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(e.to_string().contains("not a kernel module name"));
        assert!(parse(&["--l2-module"]).is_err());
    }
}
