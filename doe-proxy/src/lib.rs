//! Everything DOE, without KVM: protocol codecs, the config-space abstraction, the
//! register-level mailbox driver and an emulated DOE function for tests.
#![deny(missing_docs)]

pub mod config_space;
pub mod protocol;
