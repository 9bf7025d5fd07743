//! Tests of the virtual DOE mailbox: the register contract against a mock exchanger,
//! a hostile guest, random access storms, and the whole chain to an emulated device.

mod chain;
mod completion;
mod contract;
mod harness;
mod hostile;
mod storm;
