//! The DOE mailbox driver: the register-level requester.
//!
//! [`Mailbox`] drives one DOE instance through any [`ConfigSpace`](crate::config_space::ConfigSpace)
//! the way Linux `drivers/pci/doe.c` does (DESIGN §4): wait up to the timeout for Busy to
//! clear, write the request dword by dword, set Go, poll Status for Data Object Ready or
//! Error, read and pop the response dword by dword, and abort on any failure; a mailbox
//! whose abort does not complete is dead. It polls every millisecond by default rather
//! than Linux's ~8 ms ([`MailboxConfig`]).
//!
//! The register layout and its codecs are in [`regs`], shared with the emulated function
//! and the virtual mailbox. [`Mailbox::last_exchange`] and [`Mailbox::tally`] tell how
//! many Status reads after Go the exchanges took ([`ExchangeTrace`], [`ExchangeTally`]):
//! benchmarks count the exchanges not ready at the first read.

mod discovery;
mod driver;
mod error;
mod phases;
pub mod regs;
mod timing;
mod trace;

pub use driver::Mailbox;
pub use error::MailboxError;
pub use phases::{Attempt, Pending, Sent};
pub use timing::MailboxConfig;
pub use trace::{ExchangeTally, ExchangeTrace};
