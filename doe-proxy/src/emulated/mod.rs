//! An emulated PCI function with DOE instances, for tests: register-accurate, reached
//! through [`ConfigSpace`](crate::config_space::ConfigSpace) like hardware.
//!
//! Each instance answers Discovery from the protocols registered on it and every other
//! protocol through a pluggable [`Responder`]; it behaves like QEMU's DOE emulation
//! (doe-sources §3.1) until told to misbehave through its [`FaultHandle`].
//!
//! ```
//! use doe_proxy::emulated::{CdatResponder, DoeSpec, EmulatedFunction};
//! use doe_proxy::mailbox::{Mailbox, MailboxConfig};
//! use doe_proxy::protocol::ProtocolId;
//!
//! // A CXL type 3 device as QEMU lays it out: DOE at 0x190 with Discovery and CDAT.
//! let function = EmulatedFunction::builder()
//!     .ids(0x8086, 0x0d93)
//!     .doe(DoeSpec::new(0x190).responder(CdatResponder::new(vec![vec![0; 16]])))
//!     .build()
//!     .unwrap();
//! let mut mailbox = Mailbox::new(&function, 0x190, MailboxConfig::default()).unwrap();
//! assert_eq!(
//!     mailbox.discover().unwrap(),
//!     vec![ProtocolId::DISCOVERY, ProtocolId::CXL_TABLE_ACCESS]
//! );
//! ```

mod doe;
mod error;
mod fault;
mod function;
mod responder;

pub use doe::EmulatedDoe;
pub use error::EmulatedError;
pub use fault::{Fault, FaultHandle};
pub use function::{DoeSpec, EmulatedFunction, EmulatedFunctionBuilder};
pub use responder::{CdatResponder, EchoResponder, FnResponder, Responder};
