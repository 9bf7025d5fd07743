//! `doe-proxyd`: owns the DOE mailboxes of functions no VMM owns (a PF serving its VFs, a
//! device the host keeps) and shares them with host users through a DOE socket (the
//! protocol of `vmm --doe-socket`; see `doe-proxy/README.md`), under the admin's policy,
//! with every denial audited. It registers each function in the owner registry
//! (`doe_proxy::ownership`) while it serves it. SIGHUP reloads the policy; SIGTERM or
//! SIGINT stops it (the exchange on a device finishes, the socket and the registrations are
//! removed).

mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Parser;
use doe_proxy::admin::{AuditTarget, DoeAdmin};
use doe_proxy::mediator::{LeaseConfig, MediatorConfig};
use doe_proxy::ownership::{register_served, HostPaths, Registry, PROGRAM_DOE_PROXYD};
use doe_proxy::pci_address::Bdf;
use doe_proxy::signals::{blocked_signalfd, read_signals};
use doe_proxy::socket::{DoeService, DoeSocketServer, ServerConfig};
use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};

/// Exit code: bad usage or configuration.
const EXIT_USAGE: u8 = 2;
/// How often suppressed audit denials are summarised (and the stop flag checked).
const TICK_MS: i32 = 1000;

#[derive(Parser, Debug)]
#[command(
    name = "doe-proxyd",
    about = "Share the DOE mailboxes of host functions through a mediated socket"
)]
struct Cli {
    /// The socket to serve (doectl --socket <path>).
    #[arg(long, value_name = "PATH")]
    socket: PathBuf,
    /// The socket's file mode, octal (who may connect; the policy decides what they may do).
    #[arg(long, value_name = "OCTAL", default_value = "0660", value_parser = doe_proxy::socket::server::parse_socket_mode)]
    socket_mode: u32,
    /// The policy file (the built-in default when absent); SIGHUP re-reads it.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Where the audit record of every denial goes: `stderr` or a file (appended).
    #[arg(long, value_name = "stderr|FILE", default_value = "stderr", value_parser = AuditTarget::parse)]
    audit: AuditTarget,
    /// A function whose DOE mailboxes to serve (repeatable), e.g. 0000:0d:00.0.
    #[arg(long = "function", value_name = "BDF", required = true)]
    functions: Vec<Bdf>,
    /// Serve a function even when someone else may use its DOE mailboxes: its kernel
    /// driver, a connected TSM, or another mediator.
    #[arg(long)]
    force: bool,
    /// Switch SPDM leases off: clients' CMA/SPDM requests interleave freely (one client's
    /// GET_VERSION then resets another's connection on the responder).
    #[arg(long)]
    no_spdm_leases: bool,
    /// How long a lease outlives its holder's last SPDM exchange, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    lease_idle_ms: u64,
}

/// SIGHUP reloads the policy; SIGTERM/SIGINT set the stop flag.
struct Signals {
    fd: std::fs::File,
    admin: Arc<DoeAdmin>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl MutEventSubscriber for Signals {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.fd, EventSet::IN)) {
            log::error!("cannot watch signals: {e}");
        }
    }

    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        for signal in read_signals(&self.fd) {
            if signal == libc::SIGHUP as u32 {
                match self.admin.reload() {
                    Ok(path) => eprintln!("doe-proxyd: policy reloaded from {}", path.display()),
                    Err(e) => eprintln!(
                        "doe-proxyd: policy reload refused, the policy in force stays: {e}"
                    ),
                }
            } else {
                self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }
}

fn run(cli: Cli) -> Result<(), (u8, String)> {
    let usage = |e: String| (EXIT_USAGE, e);
    let failure = |e: String| (1, e);
    let host = HostPaths::system();
    let registry = Registry::from_env();
    for &bdf in &cli.functions {
        if let Some(reason) = serve::refusal(&host, &registry, bdf) {
            if !cli.force {
                return Err(usage(reason));
            }
            log::warn!("--force: {reason}");
        }
    }
    // Before any thread starts, so every thread has them blocked.
    let signal_fd = blocked_signalfd(&[libc::SIGHUP, libc::SIGTERM, libc::SIGINT])
        .map_err(|e| failure(format!("signals: {e}")))?;
    let audit = cli
        .audit
        .open()
        .map_err(|e| usage(format!("audit log: {e}")))?;
    let admin = DoeAdmin::load(cli.policy.as_deref(), audit).map_err(|e| usage(e.to_string()))?;
    let mediator_config = MediatorConfig {
        spdm_leases: (!cli.no_spdm_leases).then_some(LeaseConfig {
            idle_timeout: std::time::Duration::from_millis(cli.lease_idle_ms),
        }),
        ..MediatorConfig::default()
    };
    let mut mailboxes = Vec::new();
    for &bdf in &cli.functions {
        mailboxes.extend(serve::serve_function(bdf, mediator_config).map_err(failure)?);
    }
    let served = mailboxes.clone();
    let service = Arc::new(DoeService::new(admin.clone(), mailboxes));
    let config = ServerConfig {
        mode: cli.socket_mode,
        ..ServerConfig::new(&cli.socket)
    };
    let server = DoeSocketServer::bind(config, service).map_err(|e| failure(e.to_string()))?;
    // Once the socket exists, so doectl can be sent there; the files go when this drops.
    let _registration = register_served(PROGRAM_DOE_PROXYD, Some(&cli.socket), &served);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut manager = EventManager::<Arc<Mutex<dyn MutEventSubscriber + Send>>>::new()
        .map_err(|e| failure(format!("event loop: {e}")))?;
    manager.add_subscriber(Arc::new(Mutex::new(server)));
    manager.add_subscriber(Arc::new(Mutex::new(Signals {
        fd: std::fs::File::from(signal_fd),
        admin: admin.clone(),
        stop: stop.clone(),
    })));
    eprintln!(
        "doe-proxyd: serving {} on {}",
        cli.functions
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        cli.socket.display()
    );
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        manager
            .run_with_timeout(TICK_MS)
            .map_err(|e| failure(format!("event loop: {e}")))?;
        admin.flush_suppressed();
    }
    eprintln!("doe-proxyd: stopping");
    Ok(())
}

fn main() -> ExitCode {
    env_logger_init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("doe-proxyd: {message}");
            ExitCode::from(code)
        }
    }
}

/// Logs to stderr at the level of `DOE_PROXYD_LOG` (default `warn`).
fn env_logger_init() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::max_level()
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!(
                    "doe-proxyd: {}: {}",
                    r.level().as_str().to_lowercase(),
                    r.args()
                );
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    let level = std::env::var("DOE_PROXYD_LOG")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(log::LevelFilter::Warn);
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
