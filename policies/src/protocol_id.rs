//! DOE protocol identifiers (vendor ID and data-object type, PCIe r6.0 §6.30.1).
//!
//! The type lives here, in the leaf crate every other crate depends on, because a policy
//! names protocols just as the DOE codecs do; `doe-proxy` re-exports it as
//! `doe_proxy::protocol::ProtocolId`.

use std::fmt;

use serde::Serialize;

/// A DOE protocol (a "feature" in Linux), named by vendor ID and data-object type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ProtocolId {
    /// The vendor that defines the protocol (PCI-SIG is 0x0001, CXL is 0x1E98).
    pub vendor: u16,
    /// The data-object type within that vendor's space.
    pub object_type: u8,
}

impl ProtocolId {
    /// PCI-SIG DOE Discovery (`0001:00`).
    pub const DISCOVERY: ProtocolId = ProtocolId::new(0x0001, 0x00);
    /// PCI-SIG CMA/SPDM (`0001:01`).
    pub const CMA_SPDM: ProtocolId = ProtocolId::new(0x0001, 0x01);
    /// PCI-SIG Secured CMA/SPDM (`0001:02`).
    pub const SECURED_CMA_SPDM: ProtocolId = ProtocolId::new(0x0001, 0x02);
    /// CXL Compliance (`1e98:00`).
    pub const CXL_COMPLIANCE: ProtocolId = ProtocolId::new(0x1e98, 0x00);
    /// CXL Table Access, which carries CDAT (`1e98:02`).
    pub const CXL_TABLE_ACCESS: ProtocolId = ProtocolId::new(0x1e98, 0x02);

    /// A protocol from its vendor ID and object type.
    pub const fn new(vendor: u16, object_type: u8) -> Self {
        ProtocolId {
            vendor,
            object_type,
        }
    }

    /// A human name for the protocols this project knows, `None` for others.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            ProtocolId::DISCOVERY => "DOE Discovery",
            ProtocolId::CMA_SPDM => "CMA/SPDM",
            ProtocolId::SECURED_CMA_SPDM => "Secured CMA/SPDM",
            ProtocolId::CXL_COMPLIANCE => "CXL Compliance",
            ProtocolId::CXL_TABLE_ACCESS => "CXL Table Access (CDAT)",
            _ => return None,
        })
    }
}

/// Formats as Linux's `doe_features` names it: `vvvv:tt` in lower-case hex.
impl fmt::Display for ProtocolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:02x}", self.vendor, self.object_type)
    }
}
