//! The main thread's event loop (event-manager): waits for the end of the VM, feeds
//! stdin to the serial console, and runs the admin subscribers ([`crate::control`]: the
//! control socket, SIGHUP, the audit writer) and the DOE socket server.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};

use crate::devices::serial::SerialDevice;
use crate::exit::{ExitNotifier, VmExit};

/// Errors of the loop itself.
#[derive(Debug, thiserror::Error)]
pub enum EventLoopError {
    /// epoll failed.
    #[error("event loop: {0}")]
    Epoll(#[from] event_manager::Error),
}

/// A subscriber the loop runs.
pub type Subscriber = Arc<Mutex<dyn MutEventSubscriber + Send>>;

/// Drains the exit eventfd; the loop checks the recorded reason after each round.
struct ExitWatcher {
    exit: Arc<ExitNotifier>,
}

impl MutEventSubscriber for ExitWatcher {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(self.exit.event(), EventSet::IN)) {
            log::error!("cannot watch the exit event: {e}");
        }
    }

    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        let _ = self.exit.event().read();
    }
}

/// Copies stdin into the UART's receive FIFO.
struct SerialInput {
    serial: Arc<Mutex<SerialDevice>>,
}

impl MutEventSubscriber for SerialInput {
    fn init(&mut self, ops: &mut EventOps) {
        // stdin may be a file or /dev/null, which epoll refuses: then there is no input.
        if let Err(e) = ops.add(Events::new(&std::io::stdin(), EventSet::IN)) {
            log::debug!("no serial input from stdin: {e}");
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let mut buf = [0u8; 64];
        match std::io::stdin().lock().read(&mut buf) {
            Ok(n) if n > 0 => {
                let mut serial = self.serial.lock().unwrap_or_else(|e| e.into_inner());
                if serial.enqueue_input(&buf[..n]) < n {
                    crate::debug_ratelimited!("serial input FIFO full: bytes dropped");
                }
            }
            _ => {
                // EOF or error: stop watching stdin.
                let _ = ops.remove(Events::empty_raw(events.fd()));
            }
        }
    }
}

/// Runs until a vCPU or device reports the end of the VM; returns why. `extra` are the
/// admin subscribers (control socket, SIGHUP, audit writer) and the DOE socket server.
pub fn run(
    exit: Arc<ExitNotifier>,
    serial_input: Option<Arc<Mutex<SerialDevice>>>,
    extra: Vec<Subscriber>,
) -> Result<VmExit, EventLoopError> {
    let mut manager: EventManager<Subscriber> = EventManager::new()?;
    for subscriber in extra {
        manager.add_subscriber(subscriber);
    }
    manager.add_subscriber(Arc::new(Mutex::new(ExitWatcher { exit: exit.clone() })));
    if let Some(serial) = serial_input {
        if std::io::stdin().as_raw_fd() >= 0 {
            manager.add_subscriber(Arc::new(Mutex::new(SerialInput { serial })));
        }
    }
    loop {
        if let Some(reason) = exit.reason() {
            return Ok(reason);
        }
        manager.run()?;
    }
}
