//! The requester's register state machine: wait for idle, write, Go, poll, read and pop,
//! abort. It follows Linux `drivers/pci/doe.c` (polling only, abort on every failure,
//! a mailbox whose abort does not complete is dead) so that a device behaves the same
//! under this driver as under the kernel's.

use std::thread;
use std::time::{Duration, Instant};

use log::{debug, warn};

use super::error::MailboxError;
use super::regs::{
    DoeCapabilities, DoeControl, DoeStatus, DOE_CAP, DOE_CAP_SIZEOF, DOE_CTRL, DOE_READ,
    DOE_READ_POP, DOE_STATUS, DOE_WRITE,
};
use super::timing::MailboxConfig;
use super::trace::{ExchangeTally, ExchangeTrace};
use crate::config_space::{ConfigError, ConfigSpace, CONFIG_SPACE_SIZE};
use crate::ext_cap::{ExtCapHeader, EXT_CAP_ID_DOE, EXT_CAP_START};
use crate::protocol::header::HEADER_DWORDS;
use crate::protocol::{DataObjectHeader, HeaderError, ProtocolId, MAX_OBJECT_DWORDS};

/// Capability offsets are dword-aligned.
const DWORD: u16 = 4;
/// A bounded [`Mailbox::receive`] looks at its deadline once per this many dwords.
const DEADLINE_STRIDE: usize = 8;

/// The requester side of one DOE instance.
///
/// One `Mailbox` must be the only requester on its instance: the registers are one shared
/// window, so two requesters interleave their dwords (see DESIGN §1). Creating it does not
/// touch the mailbox beyond reading the capability header; call [`Mailbox::abort`] first
/// to reset an instance left in an unknown state, as Linux does when it creates one.
#[derive(Debug)]
pub struct Mailbox<C: ConfigSpace> {
    cfg: C,
    offset: u16,
    cap_version: u8,
    config: MailboxConfig,
    dead: bool,
    /// The trace of the last exchange, if it got as far as Go.
    last: Option<ExchangeTrace>,
    /// Totals over every exchange that got as far as Go.
    tally: ExchangeTally,
}

/// The outcome of polling the Status register.
pub(super) enum Waited {
    /// The condition held; the Status read that showed it.
    Met(DoeStatus),
    /// The timeout passed first.
    TimedOut,
}

/// [`Waited`] and how many Status reads it took.
pub(super) struct Polled {
    /// How the wait ended.
    pub(super) waited: Waited,
    /// Status reads made.
    pub(super) reads: u32,
}

impl<C: ConfigSpace> Mailbox<C> {
    /// A driver for the DOE capability at `cap_offset` of `cfg`. Checks that a DOE
    /// capability header is there.
    pub fn new(cfg: C, cap_offset: u16, config: MailboxConfig) -> Result<Self, MailboxError> {
        if cap_offset < EXT_CAP_START
            || cap_offset % DWORD != 0
            || cap_offset > CONFIG_SPACE_SIZE - DOE_CAP_SIZEOF
        {
            return Err(MailboxError::BadCapOffset(cap_offset));
        }
        let header = ExtCapHeader::decode(cfg.read_u32(cap_offset)?);
        if header.id != EXT_CAP_ID_DOE {
            return Err(MailboxError::NotDoe {
                offset: cap_offset,
                id: header.id,
            });
        }
        Ok(Mailbox {
            cfg,
            offset: cap_offset,
            cap_version: header.version,
            config,
            dead: false,
            last: None,
            tally: ExchangeTally::default(),
        })
    }

    /// Offset of the DOE capability in config space.
    pub fn cap_offset(&self) -> u16 {
        self.offset
    }

    /// Version of the DOE capability (decides the Discovery version sent).
    pub fn cap_version(&self) -> u8 {
        self.cap_version
    }

    /// The timeouts in use.
    pub fn config(&self) -> &MailboxConfig {
        &self.config
    }

    /// The config space the mailbox is reached through.
    pub fn config_space(&self) -> &C {
        &self.cfg
    }

    /// Gives the config space back.
    pub fn into_inner(self) -> C {
        self.cfg
    }

    /// Whether an abort failed, after which every call returns [`MailboxError::Dead`].
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// The trace of the last call to [`Mailbox::exchange`] (also each exchange of a
    /// Discovery walk or a CDAT read): how many Status reads it took after Go. `None` if
    /// there was none yet, or the last one failed before Go.
    pub fn last_exchange(&self) -> Option<ExchangeTrace> {
        self.last
    }

    /// Totals over every exchange [`Mailbox::exchange`] took as far as Go (a bounded
    /// [`Mailbox::attempt`] polls its own way and is not counted), e.g. how many were not
    /// ready at the first Status read after Go. Subtract two tallies
    /// ([`ExchangeTally::since`]) to count one operation of several exchanges.
    pub fn tally(&self) -> ExchangeTally {
        self.tally
    }

    /// Reads the DOE Capabilities register.
    pub fn capabilities(&self) -> Result<DoeCapabilities, MailboxError> {
        Ok(DoeCapabilities::decode(self.read_reg(DOE_CAP)?))
    }

    /// Reads the DOE Status register.
    pub fn status(&self) -> Result<DoeStatus, MailboxError> {
        Ok(self.read_status()?)
    }

    /// Sends `request` (a whole data object, header included) and returns the whole
    /// response object, header included.
    ///
    /// The request is validated before the device is touched. Every failure after that,
    /// except a failed config access, aborts the mailbox before returning, so the next
    /// exchange starts clean; if that abort does not complete the mailbox is dead and the
    /// error is [`MailboxError::AbortTimeout`].
    pub fn exchange(&mut self, request: &[u32]) -> Result<Vec<u32>, MailboxError> {
        self.last = None;
        self.check_alive()?;
        let protocol = validate_request(request)?;
        let started = Instant::now();
        let result = self.run_exchange(request, protocol);
        match &result {
            Ok(response) => debug!(
                "DOE [{:#x}] {protocol}: {} dword(s) sent, {} received in {:?}",
                self.offset,
                request.len(),
                response.len(),
                started.elapsed()
            ),
            Err(e) => debug!("DOE [{:#x}] {protocol}: failed: {e}", self.offset),
        }
        result.map_err(|e| self.recover(e))
    }

    /// Aborts whatever the instance is doing and waits up to the abort timeout for Busy
    /// and Error to clear; if they do not, the mailbox is marked dead.
    pub fn abort(&mut self) -> Result<(), MailboxError> {
        self.check_alive()?;
        debug!("DOE [{:#x}] abort", self.offset);
        self.write_reg(DOE_CTRL, DoeControl::ABORT.encode())?;
        match self
            .wait(self.config.abort_timeout, |s| !s.busy && !s.error)?
            .waited
        {
            Waited::Met(_) => Ok(()),
            Waited::TimedOut => {
                warn!(
                    "DOE [{:#x}] abort timed out; marking the mailbox dead",
                    self.offset
                );
                self.dead = true;
                Err(MailboxError::AbortTimeout)
            }
        }
    }

    /// Tries a dead mailbox again: forgets that an abort failed and aborts once more
    /// (a mailbox that is not dead is simply aborted). Linux never does this; a mediator
    /// that owns the mailbox does, once whoever else drove it may have stopped.
    pub fn revive(&mut self) -> Result<(), MailboxError> {
        self.dead = false;
        self.abort()
    }

    /// The state machine, from an idle mailbox to a complete response. Failures return
    /// at once; [`Mailbox::exchange`] cleans up after them.
    fn run_exchange(
        &mut self,
        request: &[u32],
        protocol: ProtocolId,
    ) -> Result<Vec<u32>, MailboxError> {
        // 1. Wait for the instance to be free; clear a left-over Error or response.
        let status = match self.wait(self.config.timeout, |s| !s.busy)?.waited {
            Waited::Met(status) => status,
            Waited::TimedOut => {
                warn!(
                    "DOE [{:#x}] busy for {:?}; another entity may be sending requests",
                    self.offset, self.config.timeout
                );
                return Err(MailboxError::BusyTimeout);
            }
        };
        if status.error || status.data_object_ready {
            debug!(
                "DOE [{:#x}] {status:?} before sending; aborting first",
                self.offset
            );
            self.abort()?;
        }

        // 2. Write the object and set Go.
        for &dword in request {
            self.write_reg(DOE_WRITE, dword)?;
        }
        self.write_reg(DOE_CTRL, DoeControl::GO.encode())?;

        // 3. Poll for Data Object Ready or Error: the first Status read comes at once, the
        // poll interval only between reads.
        let polled = self.wait(self.config.timeout, |s| s.error || s.data_object_ready)?;
        let trace = ExchangeTrace {
            status_reads_after_go: polled.reads,
        };
        self.last = Some(trace);
        self.tally.record(trace);
        match polled.waited {
            Waited::Met(status) if status.error => return Err(MailboxError::DeviceError),
            Waited::Met(_) => {}
            Waited::TimedOut => return Err(MailboxError::Timeout),
        }

        // 4. Read and pop the response.
        let mut response = Vec::with_capacity(HEADER_DWORDS);
        self.receive(protocol, &mut response, None)?;
        Ok(response)
    }

    /// Reads the response dword by dword into `response` (which holds the dwords already
    /// read, if any), popping each. Checks the protocol as soon as DW0 is read, that Data
    /// Object Ready still holds before the last pop, and that it cleared after it. With
    /// `until`, stops between two dwords once it has passed (looked at every
    /// [`DEADLINE_STRIDE`] dwords: reading the clock costs more than an emulated register)
    /// and returns `false` (the rest is still in the mailbox); `true` once the whole
    /// response is in `response`.
    pub(super) fn receive(
        &mut self,
        expected: ProtocolId,
        response: &mut Vec<u32>,
        until: Option<Instant>,
    ) -> Result<bool, MailboxError> {
        // The header's two dwords are read before the length is known.
        let mut length = match response.get(1) {
            Some(&dw1) => {
                DataObjectHeader::decode_length(dw1).map_err(MailboxError::MalformedResponse)?
            }
            None => HEADER_DWORDS,
        };
        let mut stride = 0;
        while response.len() < length {
            stride += 1;
            if stride % DEADLINE_STRIDE == 0 && until.is_some_and(|until| Instant::now() >= until) {
                return Ok(false);
            }
            let dword = self.read_reg(DOE_READ)?;
            match response.len() {
                0 => {
                    let got = DataObjectHeader::decode_dw0(dword);
                    if got != expected {
                        return Err(MailboxError::ProtocolMismatch { expected, got });
                    }
                }
                1 => {
                    length = DataObjectHeader::decode_length(dword)
                        .map_err(MailboxError::MalformedResponse)?;
                    response.reserve_exact(length - HEADER_DWORDS);
                }
                _ => {}
            }
            let last = response.len() + 1 == length;
            if last && !self.read_status()?.data_object_ready {
                return Err(MailboxError::ResponseTruncated { announced: length });
            }
            response.push(dword);
            self.write_reg(DOE_READ, DOE_READ_POP)?;
        }
        let status = self.read_status()?;
        if status.error {
            return Err(MailboxError::DeviceError);
        }
        if status.data_object_ready {
            return Err(MailboxError::ResponseOverrun { announced: length });
        }
        Ok(true)
    }

    /// Aborts after a failed exchange (as Linux's `signal_task_abort`), unless the failure
    /// was a config access (the abort would fail the same way) or an abort itself.
    /// Returns the error the exchange ends with: `error`, or the abort's if it failed.
    pub fn recover(&mut self, error: MailboxError) -> MailboxError {
        if matches!(
            error,
            MailboxError::Config(_) | MailboxError::AbortTimeout | MailboxError::Dead
        ) {
            return error;
        }
        match self.abort() {
            Ok(()) => error,
            Err(abort_error) => {
                warn!(
                    "DOE [{:#x}] abort after \"{error}\" failed: {abort_error}",
                    self.offset
                );
                abort_error
            }
        }
    }

    pub(super) fn check_alive(&self) -> Result<(), MailboxError> {
        if self.dead {
            return Err(MailboxError::Dead);
        }
        Ok(())
    }

    /// Reads Status until `done` holds or `timeout` passes, pausing `poll_interval`
    /// between reads (never before the first). Status is read at least once, and once
    /// more at the deadline.
    pub(super) fn wait(
        &self,
        timeout: Duration,
        done: impl Fn(DoeStatus) -> bool,
    ) -> Result<Polled, ConfigError> {
        let start = Instant::now();
        let mut reads = 0;
        loop {
            let status = self.read_status()?;
            reads += 1;
            if done(status) {
                return Ok(Polled {
                    waited: Waited::Met(status),
                    reads,
                });
            }
            let elapsed = start.elapsed();
            if elapsed >= timeout {
                return Ok(Polled {
                    waited: Waited::TimedOut,
                    reads,
                });
            }
            thread::sleep(self.config.poll_interval.min(timeout - elapsed));
        }
    }

    pub(super) fn read_status(&self) -> Result<DoeStatus, ConfigError> {
        Ok(DoeStatus::decode(self.read_reg(DOE_STATUS)?))
    }

    fn read_reg(&self, reg: u16) -> Result<u32, ConfigError> {
        self.cfg.read_u32(self.offset + reg)
    }

    pub(super) fn write_reg(&self, reg: u16, value: u32) -> Result<(), ConfigError> {
        self.cfg.write_u32(self.offset + reg, value)
    }
}

/// Checks that `request` is one complete data object and returns its protocol.
pub(super) fn validate_request(request: &[u32]) -> Result<ProtocolId, MailboxError> {
    if request.len() > MAX_OBJECT_DWORDS {
        return Err(MailboxError::MalformedRequest(HeaderError::TooLong(
            request.len(),
        )));
    }
    let header = DataObjectHeader::decode(request).map_err(MailboxError::MalformedRequest)?;
    if header.length_dwords != request.len() {
        return Err(MailboxError::MalformedRequest(
            HeaderError::LengthMismatch {
                declared: header.length_dwords,
                actual: request.len(),
            },
        ));
    }
    Ok(header.protocol)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_space::MemoryConfig;
    use crate::emulated::{DoeSpec, EmulatedFunction, Fault};
    use crate::mailbox::regs::STATUS_DATA_OBJECT_READY;

    fn memory_with_doe_at(offset: u16) -> MemoryConfig {
        let cfg = MemoryConfig::new();
        cfg.add_ext_capability(EXT_CAP_ID_DOE, 2, offset).unwrap();
        cfg
    }

    #[test]
    fn new_checks_the_capability() {
        let cfg = memory_with_doe_at(0x190);
        let mailbox = Mailbox::new(&cfg, 0x190, MailboxConfig::default()).unwrap();
        assert_eq!(mailbox.cap_offset(), 0x190);
        assert_eq!(mailbox.cap_version(), 2);
        assert!(!mailbox.is_dead());
        assert!(matches!(
            Mailbox::new(&cfg, 0x100, MailboxConfig::default()),
            Err(MailboxError::NotDoe {
                offset: 0x100,
                id: 0
            })
        ));
        for bad in [0xfc, 0x192, 0xfec] {
            assert!(matches!(
                Mailbox::new(&cfg, bad, MailboxConfig::default()),
                Err(MailboxError::BadCapOffset(o)) if o == bad
            ));
        }
    }

    #[test]
    fn requests_are_validated_before_any_access() {
        assert!(matches!(
            validate_request(&[0x1]),
            Err(MailboxError::MalformedRequest(HeaderError::Truncated {
                got: 1
            }))
        ));
        assert!(matches!(
            validate_request(&[0x1, 3]),
            Err(MailboxError::MalformedRequest(
                HeaderError::LengthMismatch {
                    declared: 3,
                    actual: 2
                }
            ))
        ));
        assert_eq!(
            validate_request(&[0x0002_1e98, 2]).unwrap(),
            ProtocolId::CXL_TABLE_ACCESS
        );
    }

    #[test]
    fn a_memory_mailbox_that_never_answers_times_out() {
        // Plain memory: Status reads back 0, so Data Object Ready never comes.
        let cfg = memory_with_doe_at(0x100);
        let config = MailboxConfig {
            timeout: Duration::from_millis(5),
            ..MailboxConfig::default()
        };
        let mut mailbox = Mailbox::new(&cfg, 0x100, config).unwrap();
        assert!(matches!(
            mailbox.exchange(&[0x1, 3, 0]),
            Err(MailboxError::Timeout)
        ));
        // The last dword written to the write mailbox, then Go, then the abort.
        assert_eq!(cfg.get_u32(0x100 + DOE_WRITE), 0);
        assert_eq!(cfg.get_u32(0x100 + DOE_CTRL), DoeControl::ABORT.encode());
        assert!(!mailbox.is_dead());
    }

    #[test]
    fn a_stuck_error_marks_the_mailbox_dead() {
        // Memory keeps whatever Status holds, so an abort cannot clear Error.
        let cfg = memory_with_doe_at(0x100);
        cfg.set_u32(
            0x100 + DOE_STATUS,
            DoeStatus {
                error: true,
                ..DoeStatus::default()
            }
            .encode(),
        );
        let config = MailboxConfig {
            abort_timeout: Duration::from_millis(5),
            ..MailboxConfig::default()
        };
        let mut mailbox = Mailbox::new(&cfg, 0x100, config).unwrap();
        assert!(matches!(
            mailbox.exchange(&[0x1, 3, 0]),
            Err(MailboxError::AbortTimeout)
        ));
        assert!(mailbox.is_dead());
        assert!(matches!(mailbox.abort(), Err(MailboxError::Dead)));
        assert!(matches!(
            mailbox.exchange(&[0x1, 3, 0]),
            Err(MailboxError::Dead)
        ));
    }

    /// Discovery index 0 (version 0), a whole object.
    const DISCOVERY_0: [u32; 3] = [0x0000_0001, 3, 0];

    fn emulated_with(fault: Fault) -> EmulatedFunction {
        let spec = DoeSpec::new(0x190);
        spec.fault_handle().set(fault);
        EmulatedFunction::builder().doe(spec).build().unwrap()
    }

    #[test]
    fn a_response_ready_at_once_takes_one_status_read_after_go() {
        let function = emulated_with(Fault::None);
        // A long poll interval: an exchange that paused before its first Status read, or
        // after the read that saw the response, would take it.
        let config = MailboxConfig {
            poll_interval: Duration::from_secs(5),
            ..MailboxConfig::default()
        };
        let mut mailbox = Mailbox::new(&function, 0x190, config).unwrap();
        assert_eq!(mailbox.last_exchange(), None);
        let started = Instant::now();
        mailbox.exchange(&DISCOVERY_0).unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        let trace = mailbox.last_exchange().unwrap();
        assert_eq!(trace.status_reads_after_go, 1);
        assert!(!trace.not_ready_at_first_read());
        assert_eq!(mailbox.tally().exchanges, 1);
        assert_eq!(mailbox.tally().not_ready_at_first_read, 0);
    }

    #[test]
    fn a_slow_response_takes_more_status_reads_after_go() {
        // Busy for the first two Status reads after Go, ready at the third.
        let function = emulated_with(Fault::SlowResponse { status_reads: 2 });
        let config = MailboxConfig {
            poll_interval: Duration::ZERO,
            ..MailboxConfig::default()
        };
        let mut mailbox = Mailbox::new(&function, 0x190, config).unwrap();
        let before = mailbox.tally();
        mailbox.exchange(&DISCOVERY_0).unwrap();
        let trace = mailbox.last_exchange().unwrap();
        assert_eq!(trace.status_reads_after_go, 3);
        assert!(trace.not_ready_at_first_read());
        // A walk of several exchanges is counted through the tally.
        assert_eq!(mailbox.discover().unwrap(), vec![ProtocolId::DISCOVERY]);
        let walk = mailbox.tally().since(&before);
        assert_eq!(walk.exchanges, 2);
        assert_eq!(walk.not_ready_at_first_read, 2);
        assert_eq!(walk.status_reads_after_go, 6);
    }

    #[test]
    fn an_exchange_that_fails_before_go_leaves_no_trace() {
        let function = emulated_with(Fault::None);
        let mut mailbox = Mailbox::new(&function, 0x190, MailboxConfig::default()).unwrap();
        mailbox.exchange(&DISCOVERY_0).unwrap();
        assert!(mailbox.exchange(&[0x1]).is_err());
        assert_eq!(mailbox.last_exchange(), None);
        assert_eq!(mailbox.tally().exchanges, 1);
    }

    #[test]
    fn status_and_capabilities_are_decoded() {
        let cfg = memory_with_doe_at(0x100);
        cfg.set_u32(0x100 + DOE_STATUS, STATUS_DATA_OBJECT_READY);
        cfg.set_u32(0x100 + DOE_CAP, 0x7);
        let mailbox = Mailbox::new(&cfg, 0x100, MailboxConfig::default()).unwrap();
        assert!(mailbox.status().unwrap().data_object_ready);
        assert_eq!(
            mailbox.capabilities().unwrap(),
            DoeCapabilities {
                interrupt_support: true,
                interrupt_message_number: 3
            }
        );
    }
}
