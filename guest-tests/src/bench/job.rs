//! One bench job: build the images, boot L1, run the scripts, collect the outcome.
//! `bench run <scenario>` and `bench script` both come down to a [`Job`].

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::binaries::{self, L1_BINARIES, L2_BINARIES};
use super::error::BenchError;
use super::host_programs;
use super::initramfs::{FileMapping, Initramfs};
use super::kernel::{Kernel, SetupState};
use super::l1_env::{self, EnvVar};
use super::layout::Layout;
use super::modules::ModuleIndex;
use super::qemu::{self, Console, L1Boot};
use super::report::Timings;
use super::setup::BUSYBOX;
use super::topology::Topology;

/// Paths inside L1 that scripts rely on (documented in the README).
pub const L1_L2_KERNEL: &str = "/l2/vmlinuz";
/// The L2 initramfs inside L1.
pub const L1_L2_INITRAMFS: &str = "/l2/initramfs";

/// Where an extra L2 kernel (`Job::extra_l2_kernels`) lands inside L1: `/l2/vmlinuz-7` for
/// the selector `7`.
pub fn l1_extra_l2_kernel(selector: &str) -> String {
    format!("{L1_L2_KERNEL}-{selector}")
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Job {
    /// Names the run's log and scratch directory.
    pub name: String,
    /// The topology to boot.
    pub topology: String,
    /// L1's kernel: a major version (`6`, `7`) or a release; the default kernel if unset.
    pub kernel: Option<String>,
    /// L2's kernel, likewise.
    pub l2_kernel: Option<String>,
    /// More L2 kernels for L1, each at `/l2/vmlinuz-<selector>` (see [`l1_extra_l2_kernel`]).
    pub extra_l2_kernels: Vec<String>,
    /// The script L1 runs.
    pub l1_script: PathBuf,
    /// Environment variables exported to the L1 script (`--l1-env`).
    pub l1_env: Vec<EnvVar>,
    /// The script L2's init runs, if any.
    pub l2_script: Option<PathBuf>,
    /// Extra files for the L1 image.
    pub files: Vec<FileMapping>,
    /// Extra files for the L2 image.
    pub l2_files: Vec<FileMapping>,
    /// Host programs carried into L1 with their libraries (see `host_programs`).
    pub l1_host_programs: Vec<String>,
    /// Host programs carried into L2 likewise.
    pub l2_host_programs: Vec<String>,
    /// Kernel modules of the L1 kernel loaded after the topology's, before the L1 script
    /// (dependencies added).
    pub l1_modules: Vec<String>,
    /// Kernel modules L2's init loads before the L2 script (dependencies added), from the
    /// L2 kernel (`l2_kernel`; an extra L2 kernel cannot load them).
    pub l2_modules: Vec<String>,
    /// How long the boot may take in all.
    pub timeout: Duration,
    /// Whether to echo the console to the terminal.
    pub echo: bool,
}

/// What a job produced.
#[derive(Debug)]
pub struct Outcome {
    /// The console of the boot.
    pub console: Console,
    /// How long each phase took.
    pub timings: Timings,
    /// The console log file.
    pub log: PathBuf,
}

impl Outcome {
    /// Whether L1's script exited 0 and the boot ended on its own.
    pub fn script_passed(&self) -> bool {
        self.console.verdict == Some(0) && !self.console.timed_out
    }

    /// The lines a script printed between `@@begin <name>` and `@@end <name>` (first one).
    pub fn section(&self, name: &str) -> Option<Vec<String>> {
        let begin = format!("@@begin {name}");
        let end = format!("@@end {name} ");
        let mut lines = self.console.lines.iter();
        lines.by_ref().find(|l| l.trim_end() == begin)?;
        let body: Vec<String> = lines
            .take_while(|l| !l.starts_with(&end))
            .cloned()
            .collect();
        Some(body)
    }

    /// Whether the L1 guest itself failed rather than the scenario: it ended on its own
    /// without ever reporting a verdict (reset or powered off mid-script; QEMU's
    /// `-no-reboot` then exits 0), or it went silent and was killed ([`Console::stalled`]).
    /// Both seen in this TCG-nested bench under heavy L2 exit load, during QEMU's L2
    /// baseline runs.
    pub fn l1_failed(&self) -> bool {
        self.console.stalled || (self.console.verdict.is_none() && !self.console.timed_out)
    }

    /// A one-line explanation of a failed run.
    pub fn failure(&self) -> String {
        if self.console.timed_out {
            format!("timed out (QEMU killed); see {}", self.log.display())
        } else if self.console.stalled {
            format!(
                "L1 printed nothing for {} s (QEMU killed); see {}",
                super::qemu::SILENCE_LIMIT.as_secs(),
                self.log.display()
            )
        } else {
            match self.console.verdict {
                Some(rc) => format!("L1 script exited {rc}; see {}", self.log.display()),
                None => format!(
                    "L1 reported no verdict (QEMU {}); see {}",
                    self.console.exit,
                    self.log.display()
                ),
            }
        }
    }
}

/// Runs `job`: everything from the binaries to the verdict.
pub fn run(layout: &Layout, job: &Job) -> Result<Outcome, BenchError> {
    // Fail fast, with a clear message, when the bench cannot start.
    qemu::check_qemu()?;
    if !Path::new(BUSYBOX).is_file() {
        return Err(BenchError::NotSetUp(format!(
            "{BUSYBOX} (busybox-static) is missing"
        )));
    }
    let topology = Topology::load(&layout.resources().join("topologies"), &job.topology)?;
    let state = SetupState::load(&layout.setup_state())?;
    let kernel = state.select(job.kernel.as_deref())?;
    let l2_kernel = state.select(job.l2_kernel.as_deref())?;
    let extra_l2_kernels = job
        .extra_l2_kernels
        .iter()
        .map(|selector| {
            let kernel = state.select(Some(selector)).map_err(|e| {
                let why = match e {
                    BenchError::NotSetUp(why) => why,
                    other => other.to_string(),
                };
                BenchError::NotSetUp(format!(
                    "{} needs the extra L2 kernel `{selector}` (for {}): {why}",
                    job.name,
                    l1_extra_l2_kernel(selector)
                ))
            })?;
            kernel.check()?;
            Ok((selector.clone(), kernel))
        })
        .collect::<Result<Vec<_>, BenchError>>()?;
    let run_dir = layout.run_dir(&job.name);
    fs::create_dir_all(&run_dir).map_err(BenchError::io(&run_dir))?;
    let logs = layout.logs();
    fs::create_dir_all(&logs).map_err(BenchError::io(&logs))?;

    let mut timings = Timings::default();
    let started = Instant::now();
    let built = binaries::build(layout)?;
    timings.record("build static binaries", started.elapsed());

    let started = Instant::now();
    let l2_image = run_dir.join("l2.cpio");
    build_l2(layout, job, &l2_kernel, &built, &run_dir, &l2_image)?;
    let l1_image = run_dir.join("l1.cpio");
    let size = build_l1(
        layout,
        job,
        &topology,
        &kernel,
        &l2_kernel,
        &extra_l2_kernels,
        &built,
        &run_dir,
        &l2_image,
        &l1_image,
    )?;
    timings.record("build initramfs", started.elapsed());
    let extra: String = extra_l2_kernels
        .iter()
        .map(|(s, k)| format!(" + {} at {}", k.release, l1_extra_l2_kernel(s)))
        .collect();
    eprintln!(
        "bench: {} — topology {}, L1 kernel {}, L2 kernel {}{extra}, L1 image {:.1} MiB",
        job.name,
        topology.name,
        kernel.release,
        l2_kernel.release,
        size as f64 / (1 << 20) as f64
    );

    let log = logs.join(format!("{}.log", job.name));
    let console = qemu::boot(&L1Boot {
        topology: &topology,
        kernel: &kernel.image(),
        initramfs: &l1_image,
        log: &log,
        timeout: job.timeout,
        echo: job.echo,
    })?;
    timings.record_console(&console.phases, console.total);
    Ok(Outcome {
        console,
        timings,
        log,
    })
}

/// Installs busybox, the shell helpers and `binaries` into `image`.
fn add_base(
    layout: &Layout,
    image: &Initramfs,
    init: &str,
    binaries: &[(binaries::Binary, PathBuf)],
    wanted: &[binaries::Binary],
) -> Result<(), BenchError> {
    let init_dir = layout.resources().join("init");
    image.add_file(Path::new(BUSYBOX), "/bin/busybox", 0o755)?;
    image.add_file(&init_dir.join(init), "/init", 0o755)?;
    image.add_file(&init_dir.join("lib.sh"), "/etc/bench/lib.sh", 0o644)?;
    for (bin, path) in binaries {
        if wanted.iter().any(|w| w.name == bin.name) {
            image.add_file(path, &format!("/usr/local/bin/{}", bin.name), 0o755)?;
        }
    }
    Ok(())
}

/// Resolves `wanted` and their dependencies against `kernel`'s module tree, puts each
/// plain `.ko` at `/lib/modules/bench/<name>.ko` in `image`, the load order in
/// `/etc/bench/modules` and the kernel release in `/etc/bench/modules-release` (what the
/// image's init reads).
fn add_modules(
    image: &Initramfs,
    kernel: &Kernel,
    wanted: &[String],
    scratch: &Path,
) -> Result<(), BenchError> {
    let modules = if wanted.is_empty() {
        Vec::new()
    } else {
        ModuleIndex::build(&kernel.modules_dir())?.resolve(wanted, scratch)?
    };
    let mut list = String::new();
    for (name, file) in &modules {
        image.add_file(file, &format!("/lib/modules/bench/{name}.ko"), 0o644)?;
        list.push_str(name);
        list.push('\n');
    }
    image.add_bytes("/etc/bench/modules", list.as_bytes(), 0o644)?;
    image.add_bytes(
        "/etc/bench/modules-release",
        format!("{}\n", kernel.release).as_bytes(),
        0o644,
    )
}

fn build_l2(
    layout: &Layout,
    job: &Job,
    l2_kernel: &Kernel,
    binaries: &[(binaries::Binary, PathBuf)],
    run_dir: &Path,
    out: &Path,
) -> Result<u64, BenchError> {
    let image = Initramfs::new(&run_dir.join("l2-staging"))?;
    add_base(layout, &image, "l2-init", binaries, L2_BINARIES)?;
    add_modules(
        &image,
        l2_kernel,
        &job.l2_modules,
        &run_dir.join("l2-modules"),
    )?;
    if let Some(script) = &job.l2_script {
        image.add_file(script, "/etc/bench/l2.sh", 0o755)?;
    }
    for mapping in &job.l2_files {
        image.add_mapping(mapping)?;
    }
    for name in &job.l2_host_programs {
        host_programs::install(&image, &host_programs::find(name)?)?;
    }
    image.pack(out)
}

#[allow(clippy::too_many_arguments)]
fn build_l1(
    layout: &Layout,
    job: &Job,
    topology: &Topology,
    kernel: &Kernel,
    l2_kernel: &Kernel,
    extra_l2_kernels: &[(String, Kernel)],
    binaries: &[(binaries::Binary, PathBuf)],
    run_dir: &Path,
    l2_image: &Path,
    out: &Path,
) -> Result<u64, BenchError> {
    let image = Initramfs::new(&run_dir.join("l1-staging"))?;
    add_base(layout, &image, "l1-init", binaries, L1_BINARIES)?;
    let l1_modules: Vec<String> = topology
        .modules
        .iter()
        .chain(&job.l1_modules)
        .cloned()
        .collect();
    add_modules(&image, kernel, &l1_modules, &run_dir.join("modules"))?;
    // The kernel's build configuration where Debian puts it, for tools that ask what it
    // has (`doectl doctor`: CONFIG_PCI_DOE).
    if let Some(config) = kernel.config() {
        image.add_file(&config, &format!("/boot/config-{}", kernel.release), 0o644)?;
    }
    image.add_file(&job.l1_script, "/etc/bench/l1.sh", 0o755)?;
    image.add_bytes(
        l1_env::L1_ENV_FILE,
        l1_env::render(&job.l1_env).as_bytes(),
        0o644,
    )?;
    image.add_file(&l2_kernel.image(), L1_L2_KERNEL, 0o644)?;
    for (selector, kernel) in extra_l2_kernels {
        image.add_file(&kernel.image(), &l1_extra_l2_kernel(selector), 0o644)?;
    }
    image.add_file(l2_image, L1_L2_INITRAMFS, 0o644)?;
    for name in &job.l1_host_programs {
        host_programs::install(&image, &host_programs::find(name)?)?;
    }
    for mapping in &job.files {
        image.add_mapping(mapping)?;
    }
    image.pack(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::qemu::Console;

    fn outcome(verdict: Option<i32>, timed_out: bool, stalled: bool) -> Outcome {
        Outcome {
            console: Console {
                lines: Vec::new(),
                verdict,
                phases: Vec::new(),
                total: Duration::ZERO,
                timed_out,
                stalled,
                exit: "exit status: 0".into(),
            },
            timings: Timings::default(),
            log: "x.log".into(),
        }
    }

    #[test]
    fn a_dead_or_silent_l1_is_the_bench_failing_not_the_scenario() {
        assert!(outcome(None, false, false).l1_failed());
        assert!(outcome(None, false, false).failure().contains("no verdict"));
        assert!(outcome(None, false, true).l1_failed());
        assert!(outcome(None, false, true)
            .failure()
            .contains("printed nothing for 300 s"));
        assert!(!outcome(Some(0), false, false).l1_failed());
        assert!(!outcome(Some(1), false, false).l1_failed());
        assert!(!outcome(None, true, false).l1_failed());
    }
}
