//! The guest-facing virtual DOE mailbox (DESIGN §3–§4).
//!
//! [`VirtualDoe`] is the register model of one DOE capability as a guest sees it,
//! a [`CapabilityHandler`](crate::pci::capability::CapabilityHandler) the VFIO
//! passthrough function puts at the physical capability's offset
//! (`PassthroughBuilder::virtualise_extended(offset, DOE_CAP_SIZEOF, handler)`). Its
//! exchanges go to the mediator that owns the physical mailbox through an
//! [`Exchanger`]; the guest never touches the physical registers.
//!
//! # The contract (each point is tested in `tests/`)
//!
//! - **Capabilities** reads 0: no interrupt support, so the guest polls (as Linux
//!   always does). **Control** reads 0: Abort and Go read 0, Interrupt Enable is
//!   read-only 0. **Status** shows Busy, Error and Data Object Ready; Interrupt Status
//!   is always 0. Writes to read-only registers and bits are dropped.
//! - **Write Data Mailbox**: each dword write appends. The length is checked the moment
//!   the header's length dword arrives: an object announcing more than
//!   [`VirtualDoeConfig::max_object_dwords`] (or a length field of 1), or more dwords
//!   than announced, is dropped at once — its buffer freed, the rest of its dwords
//!   ignored — and Go then discards it. At most one object of the maximum size is held
//!   per direction. Writes while Busy or Error are dropped.
//! - **Go** never blocks inside the access (no lock of the bus is ever held while
//!   waiting); with [`VirtualDoeConfig::completion_wait`] set, the vCPU runs a bounded
//!   wait for the result *after* the access ([`completion_wait`]). An object whose dwords
//!   do not match its length is
//!   silently discarded (PCIe r6.0 §6.30.1), as is Go with nothing written. Discovery is
//!   answered locally from the device's cached Discovery result filtered by the
//!   [`DoeFilter`] (Discovery itself always first; re-evaluated on every request, so a
//!   reloaded policy applies at once). Any other object is checked by the filter and,
//!   if allowed and supported by the device, submitted: Busy is set and Go returns.
//!   When the result arrives (on the mediator's thread) Busy clears and the response
//!   becomes readable (Data Object Ready), or Error is set. Go while Busy or Error is
//!   ignored.
//! - **Read Data Mailbox**: a read returns the current dword (0 when nothing is ready)
//!   and has no side effect; a write of any value pops it. Popping with nothing ready
//!   (reading past the end) sets Error, as QEMU does.
//! - **Abort** cancels only this guest's exchange at the mediator (a request already on
//!   the device finishes there, never aborted under another client; its result is
//!   dropped), empties both mailboxes and clears Busy, Error and Ready at once.
//! - **Narrow accesses**: byte and word reads see the bytes of the dword registers; a
//!   narrow write to Control acts (its other bytes read 0); narrow writes to the
//!   mailbox data registers are no data-object dword and are dropped. Nothing a guest
//!   writes can panic the model.
//!
//! # What a guest sees for a denied or unsupported protocol
//!
//! **The object is silently discarded; the guest's requester times out.** A request for
//! a protocol the filter denies ([`FilterVerdict::DenyDiscard`]), or one the device did
//! not list in Discovery, never reaches the device: Busy is not set, no response
//! appears, Error stays clear. Linux's `pci_doe` then waits its 1 s timeout after Go,
//! aborts (which succeeds at once here) and fails that request with `-EIO`; our own
//! requester ([`doe_proxy::mailbox::Mailbox`]) returns `MailboxError::Timeout`.
//!
//! Why not the Error bit (which would make Linux fail at once with `-EIO`):
//! - PCIe r6.0 §6.30.1 requires an object that does not match its Length to be
//!   "silently discarded", and devices treat an object type they do not implement the
//!   same way: QEMU's `pcie_doe.c` drops any object with no handler, and QEMU's NVMe
//!   CMA mailbox on our bench silently discards an unsupported type (DESIGN §6). The
//!   Error bit is the instance reporting a failure of its own in processing an object
//!   (and, per the DOE ECN, a response it owes but did not produce within 1 s of Go).
//!   A denied protocol is, for this guest, a protocol the device does not support — it
//!   is absent from the Discovery the guest sees — so it gets what an unsupported type
//!   gets from hardware.
//! - It gives away nothing: a guest cannot tell a policy denial from a device without
//!   the protocol, and Discovery already told it the protocol is not there.
//! - It costs only the offender: Linux never sends a request for a protocol its
//!   Discovery did not list (`pci_doe_submit_task` refuses it with `-EINVAL`), so a
//!   well-behaved guest kernel never waits; a tool that sends one anyway waits one
//!   second of its own time. The physical mailbox and the other clients see nothing.
//! - It is DESIGN §4's rule ("discarded as hardware does for unsupported types").
//!
//! A denied SPDM request code is different: the filter answers it with a well-formed
//! SPDM ERROR ([`FilterVerdict::DenyWithResponse`]) so the guest's SPDM stack fails
//! cleanly. The Error bit is kept for failures of the exchange itself: a timeout, a
//! device error, a dead physical mailbox, a full queue or a mediator shutting down set
//! Error, so Linux aborts at once and recovers instead of waiting.
//!
//! # Threads
//!
//! Register accesses run on the vCPU thread that trapped them; results arrive on one of
//! the mediator's threads, or on the vCPU itself when it runs its exchange in its
//! completion wait ([`Exchanger::drive`], called with no lock held). All take the
//! registers' lock, never for long; the exchanger's `submit` and `cancel` are called under
//! it, which is why they must not deliver results from inside.

mod bytes;
pub mod completion_wait;
mod config;
mod exchanger;
mod filter;
mod log;
mod read_mailbox;
mod registers;
mod virtual_doe;
mod write_mailbox;

#[cfg(test)]
mod tests;

pub use completion_wait::{take_pending, PendingWait, WaitCause, WaitOutcome};
pub use config::VirtualDoeConfig;
pub use doe_proxy::mailbox::regs::DOE_CAP_SIZEOF;
pub use exchanger::Exchanger;
pub use filter::{AllowAll, DoeFilter, FilterVerdict};
pub use virtual_doe::VirtualDoe;
