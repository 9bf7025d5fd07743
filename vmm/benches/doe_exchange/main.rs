//! The cost of one DOE exchange through the guest-facing path — the virtual mailbox's
//! registers (`devices::doe::VirtualDoe`), the admin policy (`vmm::doe::PolicyFilter`),
//! the mediator and the mailbox driver — against the bare driver (`Mailbox::exchange`)
//! on the same kind of emulated CXL function, in the same run.
//!
//! Groups (each with `mediated` and `bare`):
//! - `discovery_1_client`: Discovery index 0. The virtual mailbox answers Discovery
//!   itself from the mediator's cached result, filtered by the policy: it never reaches
//!   the mediator. That is the real path, so it is measured as is; the bare driver asks
//!   the device.
//! - `cdat0_1_client`: CXL Table Access, CDAT entry 0, one client.
//! - `cdat0_8_clients`: 8 threads, each with its own virtual mailbox on one mediator,
//!   against 8 threads sharing the bare driver behind a mutex. One iteration is one
//!   exchange by each thread (throughput: 8 exchanges per iteration).
//!
//! Then a summary: both sides run alternately for a fixed number of rounds, timed with
//! [`Instant`], and the medians give the time per exchange and the ratio mediated/bare
//! (the goal is ≤ 1.1×; printed, never asserted). It runs after any filtered set of
//! groups too (a few seconds), but not with `--test` or `--list`.
//!
//! `cargo bench -p vmm --bench doe_exchange [-- --warm-up-time 1 --measurement-time 3]`

mod guest;
mod setup;

use std::hint::black_box;
use std::sync::{Barrier, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use doe_proxy::mailbox::Mailbox;

use setup::{bare_mailbox, cdat_request, discovery_request, Mediated, Paced};

/// Threads sharing one mediator (or one bare driver) in the concurrent case.
const CLIENTS: usize = 8;
/// Summary: alternating rounds per case (the median is taken over them).
const ROUNDS: usize = 15;
/// Summary: exchanges per side per round with one client.
const EXCHANGES_1: u64 = 2000;
/// Summary: exchanges per thread per side per round with [`CLIENTS`] clients.
const EXCHANGES_PER_CLIENT: u64 = 250;
/// What one config access of the device costs in the summary's paced cases: about a PCIe
/// config access on hardware (the emulated device alone answers in tens of nanoseconds,
/// which makes any mediation look expensive).
const PACED_COST: Duration = Duration::from_micros(1);
/// Exchanges per round in the paced cases (each takes tens of microseconds).
const PACED_EXCHANGES: u64 = 100;

/// The bare driver shared by several threads.
type SharedMailbox = Mutex<Mailbox<Paced>>;

/// Everything the benchmarks exchange with, built once.
struct Fixture {
    /// One virtual mailbox on its own mediator.
    mediated_1: Mediated,
    /// [`CLIENTS`] virtual mailboxes on one mediator.
    mediated_n: Mediated,
    /// The bare driver, for one client.
    bare_1: Mailbox<Paced>,
    /// The bare driver shared by [`CLIENTS`] threads.
    bare_n: SharedMailbox,
}

impl Fixture {
    /// Starts the mediators and resets the bare drivers.
    fn new(cost: Duration) -> Self {
        Fixture {
            mediated_1: Mediated::new(1, cost),
            mediated_n: Mediated::new(CLIENTS, cost),
            bare_1: bare_mailbox(cost),
            bare_n: Mutex::new(bare_mailbox(cost)),
        }
    }

    /// Both paths give the same responses, on every client, before anything is timed.
    fn check(&mut self) {
        for request in [discovery_request(), cdat_request()] {
            let bare = self.bare_1.exchange(&request).expect("bare exchange");
            assert_eq!(self.mediated_1.guest().exchange(&request), bare);
            for guest in &mut self.mediated_n.guests {
                assert_eq!(guest.exchange(&request), bare);
            }
            assert_eq!(lock(&self.bare_n).exchange(&request).unwrap(), bare);
        }
    }

    /// One side of the one-client case: `count` exchanges of `request`.
    fn one_client(&mut self, mediated: bool, request: &[u32], count: u64) {
        for _ in 0..count {
            if mediated {
                black_box(self.mediated_1.guest().exchange(request));
            } else {
                black_box(self.bare_1.exchange(request).expect("bare exchange"));
            }
        }
    }

    /// One side of the [`CLIENTS`]-client case: the wall time for every thread to do
    /// `per_client` CDAT entry-0 exchanges.
    fn many_clients(&mut self, mediated: bool, per_client: u64) -> Duration {
        let request = cdat_request();
        if mediated {
            concurrently(self.mediated_n.guests.iter_mut(), per_client, |guest| {
                black_box(guest.exchange(&request));
            })
        } else {
            let bare = &self.bare_n;
            concurrently((0..CLIENTS).map(|_| bare), per_client, |bare| {
                black_box(lock(bare).exchange(&request).expect("bare exchange"));
            })
        }
    }
}

/// Runs `exchange` `per_client` times on a thread per worker, all released at once; the
/// wall time from the release to the last thread's end.
fn concurrently<T: Send>(
    workers: impl ExactSizeIterator<Item = T>,
    per_client: u64,
    exchange: impl Fn(&mut T) + Sync,
) -> Duration {
    let start = Barrier::new(workers.len() + 1);
    thread::scope(|scope| {
        let threads: Vec<_> = workers
            .map(|mut worker| {
                let (start, exchange) = (&start, &exchange);
                scope.spawn(move || {
                    start.wait();
                    for _ in 0..per_client {
                        exchange(&mut worker);
                    }
                })
            })
            .collect();
        start.wait();
        let started = Instant::now();
        for thread in threads {
            thread.join().expect("a client thread panicked");
        }
        started.elapsed()
    })
}

/// Locks the shared bare driver (a panicked client leaves it usable).
fn lock(mailbox: &SharedMailbox) -> MutexGuard<'_, Mailbox<Paced>> {
    mailbox.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The criterion groups.
fn benches(c: &mut Criterion, fixture: &mut Fixture) {
    for (name, request) in [
        ("discovery_1_client", discovery_request()),
        ("cdat0_1_client", cdat_request()),
    ] {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(1));
        group.bench_function("mediated", |b| {
            b.iter(|| fixture.one_client(true, &request, 1))
        });
        group.bench_function("bare", |b| {
            b.iter(|| fixture.one_client(false, &request, 1))
        });
        group.finish();
    }
    let mut group = c.benchmark_group(format!("cdat0_{CLIENTS}_clients"));
    group.throughput(Throughput::Elements(CLIENTS as u64));
    // Every sample the same length, so that starting the threads (outside the timing,
    // but they still have to get going) weighs the same in each.
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("mediated", |b| {
        b.iter_custom(|iters| fixture.many_clients(true, iters))
    });
    group.bench_function("bare", |b| {
        b.iter_custom(|iters| fixture.many_clients(false, iters))
    });
    group.finish();
}

/// Medians of [`ROUNDS`] alternating rounds, per exchange: `(mediated, bare)`.
/// `round(mediated)` returns the time per exchange of one round of that side.
fn alternate(mut round: impl FnMut(bool) -> Duration) -> (Duration, Duration) {
    let mut mediated = Vec::with_capacity(ROUNDS);
    let mut bare = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS {
        // Alternate which side goes first, so neither always follows the other.
        for side in [i % 2 == 0, i % 2 != 0] {
            let time = round(side);
            if side {
                mediated.push(time);
            } else {
                bare.push(time);
            }
        }
    }
    (median(mediated), median(bare))
}

/// The middle one of `times`.
fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

/// Measures both sides the same way in the same run and prints the ratios.
fn summary(fixture: &mut Fixture, paced: &mut Fixture) {
    let one = |fixture: &mut Fixture, request: Vec<u32>| {
        alternate(|mediated| {
            let started = Instant::now();
            fixture.one_client(mediated, &request, EXCHANGES_1);
            started.elapsed() / EXCHANGES_1 as u32
        })
    };
    let cases = [
        (
            "Discovery, 1 client".to_owned(),
            one(fixture, discovery_request()),
        ),
        (
            "CDAT entry 0, 1 client".to_owned(),
            one(fixture, cdat_request()),
        ),
        (
            format!("CDAT entry 0, {CLIENTS} clients"),
            alternate(|mediated| {
                let exchanges = EXCHANGES_PER_CLIENT * CLIENTS as u64;
                fixture.many_clients(mediated, EXCHANGES_PER_CLIENT) / exchanges as u32
            }),
        ),
        (
            format!("CDAT entry 0, 1 client, {PACED_COST:?} per device access"),
            alternate(|mediated| {
                let started = Instant::now();
                paced.one_client(mediated, &cdat_request(), PACED_EXCHANGES);
                started.elapsed() / PACED_EXCHANGES as u32
            }),
        ),
        (
            format!("CDAT entry 0, {CLIENTS} clients, {PACED_COST:?} per device access"),
            alternate(|mediated| {
                let exchanges = PACED_EXCHANGES * CLIENTS as u64;
                paced.many_clients(mediated, PACED_EXCHANGES) / exchanges as u32
            }),
        ),
    ];
    println!(
        "\nsummary: time per exchange, medians of {ROUNDS} alternating rounds \
         (with {CLIENTS} clients: wall time / exchanges); goal mediated/bare <= 1.1x"
    );
    for (name, (mediated, bare)) in cases {
        println!(
            "  {name:<48} mediated {:>9.3} us   bare {:>9.3} us   ratio {:.2}x",
            micros(mediated),
            micros(bare),
            mediated.as_secs_f64() / bare.as_secs_f64()
        );
    }
    println!(
        "  (Discovery is answered by the virtual mailbox itself: it never reaches the mediator)"
    );
}

/// `time` in microseconds.
fn micros(time: Duration) -> f64 {
    time.as_secs_f64() * 1e6
}

/// Checks both paths agree, runs the criterion groups, then the summary.
fn main() {
    let mut fixture = Fixture::new(Duration::ZERO);
    fixture.check();
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion, &mut fixture);
    criterion.final_summary();
    // `cargo test --benches` runs each benchmark once (`--test`) and `--list` lists them:
    // neither wants the timed summary.
    let quick = std::env::args().any(|arg| arg == "--test" || arg == "--list");
    if !quick {
        let mut paced = Fixture::new(PACED_COST);
        paced.check();
        summary(&mut fixture, &mut paced);
    }
}
