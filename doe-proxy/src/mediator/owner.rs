//! The mediator: starts on one physical mailbox, registers clients, shuts down.

use std::fmt;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use log::{info, warn};

use super::client::MediatorClient;
use super::completion::Completion;
use super::config::{MediatorConfig, MediatorThread};
use super::error::{ExchangeError, MediatorError};
use super::scheduler::Scheduler;
use super::state::State;
use super::worker::{run_notifier, run_worker, Shared};
use crate::config_space::ConfigSpace;
use crate::mailbox::Mailbox;
use crate::protocol::ProtocolId;

/// The one owner of one physical DOE mailbox, shared fairly by its clients.
///
/// It runs two threads: a worker that drives the [`Mailbox`] (one exchange at a time,
/// clients served round-robin) and delivers each exchange's result, and a notifier that
/// delivers the answers that need no device. Dropping it shuts it down as [`Mediator::shutdown`] does.
pub struct Mediator {
    shared: Arc<Shared>,
    cap_offset: u16,
    worker: Option<JoinHandle<()>>,
    notifier: Option<JoinHandle<()>>,
}

impl fmt::Debug for Mediator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mediator")
            .field("cap_offset", &self.cap_offset)
            .field("discovered", &self.discovered())
            .finish_non_exhaustive()
    }
}

impl Mediator {
    /// Takes `mailbox`, resets it (if configured), runs Discovery once and caches the
    /// result, and starts serving clients. If the reset or the Discovery fails (another
    /// requester is driving the mailbox, or left it in Error), it starts all the same
    /// when [`MediatorConfig::recovery`] is on: the mailbox is unusable (submissions are
    /// answered [`ExchangeError::MailboxDead`]) until a retry works; with recovery off
    /// that is an error. It serves with the scheduler the configuration asks for
    /// ([`MediatorConfig::scheduler`]: SPDM leases if
    /// [`spdm_leases`](MediatorConfig::spdm_leases) is set, else [`AdmitAll`](super::AdmitAll)).
    pub fn start<C>(mailbox: Mailbox<C>, config: MediatorConfig) -> Result<Self, MediatorError>
    where
        C: ConfigSpace + Send + 'static,
    {
        Self::start_with(mailbox, config, config.scheduler())
    }

    /// [`Mediator::start`] with a scheduling hook of the caller's; `config.spdm_leases`
    /// is not used.
    pub fn start_with<C>(
        mut mailbox: Mailbox<C>,
        config: MediatorConfig,
        scheduler: Box<dyn Scheduler>,
    ) -> Result<Self, MediatorError>
    where
        C: ConfigSpace + Send + 'static,
    {
        let cap_offset = mailbox.cap_offset();
        let discovered: Arc<[ProtocolId]> = match first_discovery(&mut mailbox, &config) {
            Ok(discovered) => {
                info!(
                    "DOE mediator [{cap_offset:#x}]: serving {}",
                    discovered
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                discovered.into()
            }
            Err(e) if config.recovery.is_some() => {
                warn!(
                    "DOE mediator [{cap_offset:#x}]: the mailbox is not usable yet ({e}); \
                     its exchanges fail until a retry works"
                );
                Arc::from([])
            }
            Err(e) => return Err(e),
        };
        let (notices, receiver) = mpsc::channel();
        let shared = Arc::new(Shared::new(
            State::new(config, discovered.clone(), scheduler, notices),
            Box::new(mailbox),
        ));
        let hook = config.on_thread_start;
        let notifier = thread::Builder::new()
            .name(format!("doe-notify-{cap_offset:x}"))
            .spawn(move || {
                if let Some(hook) = hook {
                    hook(MediatorThread::Notifier);
                }
                run_notifier(receiver)
            })
            .map_err(MediatorError::Spawn)?;
        let worker_shared = shared.clone();
        let worker = thread::Builder::new()
            .name(format!("doe-mediator-{cap_offset:x}"))
            .spawn(move || {
                if let Some(hook) = hook {
                    hook(MediatorThread::Worker);
                }
                run_worker(worker_shared)
            });
        let worker = match worker {
            Ok(worker) => worker,
            Err(e) => {
                shared.lock().close_notices();
                let _ = notifier.join();
                return Err(MediatorError::Spawn(e));
            }
        };
        Ok(Mediator {
            shared,
            cap_offset,
            worker: Some(worker),
            notifier: Some(notifier),
        })
    }

    /// The protocols the physical mailbox listed, in index order: empty until a
    /// Discovery walk worked (at start, or at a retry after the start failed).
    pub fn discovered(&self) -> Arc<[ProtocolId]> {
        self.shared.lock().discovered()
    }

    /// Offset of the physical DOE capability.
    pub fn cap_offset(&self) -> u16 {
        self.cap_offset
    }

    /// Whether the physical mailbox is unusable now (an abort did not complete, or it was
    /// never discovered), until a retry works.
    pub fn is_dead(&self) -> bool {
        self.shared.lock().is_dead()
    }

    /// Registers a client named `name` (for logs; later its policy identity) whose
    /// results go to `sink`. Fails only once shutdown began.
    pub fn register(
        &self,
        name: impl Into<String>,
        sink: Arc<dyn Completion>,
    ) -> Result<MediatorClient, ExchangeError> {
        let name = name.into();
        let id = self.shared.lock().register(name.clone(), sink)?;
        Ok(MediatorClient {
            id,
            name,
            shared: self.shared.clone(),
        })
    }

    /// Stops: new submissions are refused with [`ExchangeError::ShuttingDown`], the
    /// exchange on the device (if any) finishes and is delivered, every queued
    /// submission is answered `ShuttingDown`, and both threads are joined after the
    /// last result has been delivered.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.lock().begin_shutdown();
        self.shared.wake_worker();
        if let Some(worker) = self.worker.take() {
            if worker.join().is_err() {
                warn!("DOE mediator [{:#x}]: worker panicked", self.cap_offset);
                // Whatever it left queued still gets its one answer.
                self.shared
                    .lock()
                    .answer_all_queued(ExchangeError::ShuttingDown);
            }
        }
        self.shared.lock().close_notices();
        if let Some(notifier) = self.notifier.take() {
            if notifier.join().is_err() {
                warn!("DOE mediator [{:#x}]: notifier panicked", self.cap_offset);
            }
        }
    }
}

/// The start-up reset (if configured) and Discovery walk.
fn first_discovery<C: ConfigSpace>(
    mailbox: &mut Mailbox<C>,
    config: &MediatorConfig,
) -> Result<Vec<ProtocolId>, MediatorError> {
    if config.reset_on_start {
        mailbox.abort().map_err(MediatorError::Reset)?;
    }
    mailbox.discover().map_err(MediatorError::Discovery)
}

impl Drop for Mediator {
    fn drop(&mut self) {
        self.stop();
    }
}
