//! PCI function addresses (`0000:0d:00.0`). The type lives in `policies`, the leaf crate
//! every other crate depends on, because a policy names functions by address; it is
//! re-exported here so DOE code keeps naming it `doe_proxy::pci_address::Bdf`.

pub use policies::pci_address::{Bdf, BdfError};
