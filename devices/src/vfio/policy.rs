//! Which capabilities of an assigned function a guest never sees, and why.
//!
//! Hidden means unlinked from the guest's chain, reading zero, writes dropped: the guest
//! cannot reach those registers of the physical function at all.

use crate::pci::capability::ids::{EXT_ARI, EXT_DOE, EXT_IDE, EXT_RESIZABLE_BAR, EXT_SRIOV};
use crate::pci::capability::{CapSpace, Capability};

/// An extended capability hidden from every guest, with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HiddenCapability {
    /// Extended capability ID.
    pub id: u16,
    /// Why a guest must not drive it.
    pub reason: &'static str,
}

/// The extended capabilities hidden from guests.
pub const HIDDEN_EXTENDED: &[HiddenCapability] = &[
    HiddenCapability {
        id: EXT_DOE,
        reason: "a DOE mailbox is one register window shared with the host and other \
                 guests; raw guest access interleaves exchanges and resets SPDM sessions. \
                 The guest gets a virtual mailbox instead (same offset) once one is \
                 attached",
    },
    HiddenCapability {
        id: EXT_SRIOV,
        reason: "enabling VFs would create functions on the host, outside this guest and \
                 its IOMMU setup; VF BARs are host resources",
    },
    HiddenCapability {
        id: EXT_RESIZABLE_BAR,
        reason: "resizing would change a physical BAR under the emulated BARs, whose \
                 sizes are fixed from the VFIO regions when the function is assigned",
    },
    HiddenCapability {
        id: EXT_ARI,
        reason: "its Next Function Number names host functions; the guest sees this \
                 function alone in its slot",
    },
    HiddenCapability {
        id: EXT_IDE,
        reason: "link encryption keys and streams belong to the host's TSM, which \
                 programs them over secured CMA/SPDM",
    },
];

/// Why `cap` is hidden from guests, or `None` if it is not.
pub fn hidden_reason(cap: &Capability) -> Option<&'static str> {
    if cap.space != CapSpace::Extended {
        return None;
    }
    HIDDEN_EXTENDED
        .iter()
        .find(|hidden| hidden.id == cap.id)
        .map(|hidden| hidden.reason)
}
