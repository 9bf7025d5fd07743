//! The GSI routing table: KVM_SET_GSI_ROUTING replaces the whole table, so the VMM keeps
//! the legacy pin routes (PIC and IOAPIC) together with the MSI routes it adds for assigned
//! devices, and commits the lot. Interrupts are injected through irqfds bound to GSIs.

use std::collections::BTreeMap;

use kvm_bindings::{
    kvm_irq_routing_entry, kvm_irq_routing_entry__bindgen_ty_1, kvm_irq_routing_irqchip,
    kvm_irq_routing_msi, KvmIrqRouting, KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER,
    KVM_IRQCHIP_PIC_SLAVE, KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQ_ROUTING_MSI,
};
use kvm_ioctls::VmFd;

/// IOAPIC pins (KVM's in-kernel IOAPIC).
pub const IOAPIC_PINS: u32 = 24;
/// ISA IRQs routed to the PICs as well.
const PIC_IRQS: u32 = 16;
/// Pins per PIC.
const PIC_PINS: u32 = 8;
/// Largest GSI handed out for MSI routes (KVM's default routing table limit is 1024).
const MAX_GSI: u32 = 1023;

/// Errors of the routing table.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    /// No GSI left.
    #[error("no free GSI for an MSI route")]
    Exhausted,
    /// KVM refused the table.
    #[error("KVM_SET_GSI_ROUTING failed: {0}")]
    Commit(kvm_ioctls::Error),
    /// The table is too large for the FAM wrapper.
    #[error("GSI routing table too large")]
    TooLarge,
}

/// One route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A pin of an in-kernel interrupt controller.
    Irqchip {
        /// `KVM_IRQCHIP_*`.
        chip: u32,
        /// Pin.
        pin: u32,
    },
    /// An MSI message.
    Msi {
        /// Message address.
        address: u64,
        /// Message data.
        data: u32,
    },
}

/// The table, by GSI (a GSI may have several routes: ISA IRQs go to PIC and IOAPIC).
#[derive(Debug, Clone)]
pub struct GsiRouting {
    routes: BTreeMap<u32, Vec<Route>>,
}

impl GsiRouting {
    /// KVM's default legacy routing: GSI 0..16 to the PICs and GSI 0..24 to the IOAPIC.
    pub fn legacy() -> Self {
        let mut routes: BTreeMap<u32, Vec<Route>> = BTreeMap::new();
        for gsi in 0..IOAPIC_PINS {
            let mut r = Vec::new();
            if gsi < PIC_IRQS {
                let chip = if gsi < PIC_PINS {
                    KVM_IRQCHIP_PIC_MASTER
                } else {
                    KVM_IRQCHIP_PIC_SLAVE
                };
                r.push(Route::Irqchip {
                    chip,
                    pin: gsi % PIC_PINS,
                });
            }
            r.push(Route::Irqchip {
                chip: KVM_IRQCHIP_IOAPIC,
                pin: gsi,
            });
            routes.insert(gsi, r);
        }
        Self { routes }
    }

    /// A free GSI for an MSI route (above the IOAPIC pins).
    pub fn allocate(&self) -> Result<u32, RoutingError> {
        (IOAPIC_PINS..=MAX_GSI)
            .find(|g| !self.routes.contains_key(g))
            .ok_or(RoutingError::Exhausted)
    }

    /// Sets (or replaces) the MSI route of `gsi`.
    pub fn set_msi(&mut self, gsi: u32, address: u64, data: u32) {
        self.routes.insert(gsi, vec![Route::Msi { address, data }]);
    }

    /// Removes every route of `gsi`.
    pub fn remove(&mut self, gsi: u32) {
        self.routes.remove(&gsi);
    }

    /// The routes of `gsi`.
    pub fn routes(&self, gsi: u32) -> &[Route] {
        self.routes.get(&gsi).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The table as KVM entries.
    pub fn entries(&self) -> Vec<kvm_irq_routing_entry> {
        let mut out = Vec::new();
        for (gsi, routes) in &self.routes {
            for route in routes {
                let (type_, u) = match *route {
                    Route::Irqchip { chip, pin } => (
                        KVM_IRQ_ROUTING_IRQCHIP,
                        kvm_irq_routing_entry__bindgen_ty_1 {
                            irqchip: kvm_irq_routing_irqchip { irqchip: chip, pin },
                        },
                    ),
                    Route::Msi { address, data } => (
                        KVM_IRQ_ROUTING_MSI,
                        kvm_irq_routing_entry__bindgen_ty_1 {
                            msi: kvm_irq_routing_msi {
                                address_lo: address as u32,
                                address_hi: (address >> 32) as u32,
                                data,
                                ..Default::default()
                            },
                        },
                    ),
                };
                out.push(kvm_irq_routing_entry {
                    gsi: *gsi,
                    type_,
                    flags: 0,
                    pad: 0,
                    u,
                });
            }
        }
        out
    }

    /// Installs the table in KVM.
    pub fn commit(&self, vm: &VmFd) -> Result<(), RoutingError> {
        let table =
            KvmIrqRouting::from_entries(&self.entries()).map_err(|_| RoutingError::TooLarge)?;
        vm.set_gsi_routing(&table).map_err(RoutingError::Commit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_table_matches_kvm_defaults() {
        let t = GsiRouting::legacy();
        assert_eq!(
            t.routes(4),
            &[
                Route::Irqchip {
                    chip: KVM_IRQCHIP_PIC_MASTER,
                    pin: 4
                },
                Route::Irqchip {
                    chip: KVM_IRQCHIP_IOAPIC,
                    pin: 4
                }
            ]
        );
        assert_eq!(
            t.routes(10)[0],
            Route::Irqchip {
                chip: KVM_IRQCHIP_PIC_SLAVE,
                pin: 2
            }
        );
        assert_eq!(
            t.routes(20),
            &[Route::Irqchip {
                chip: KVM_IRQCHIP_IOAPIC,
                pin: 20
            }]
        );
        assert_eq!(t.entries().len(), 16 * 2 + 8);
    }

    #[test]
    fn msi_routes_extend_the_table() {
        let mut t = GsiRouting::legacy();
        let gsi = t.allocate().unwrap();
        assert_eq!(gsi, IOAPIC_PINS);
        t.set_msi(gsi, 0x1_fee0_1000, 0x4021);
        assert_eq!(t.allocate().unwrap(), IOAPIC_PINS + 1);
        let e = *t.entries().last().unwrap();
        assert_eq!((e.gsi, e.type_), (gsi, KVM_IRQ_ROUTING_MSI));
        // SAFETY: the entry was built as an MSI route, so `msi` is the initialised member.
        let msi = unsafe { e.u.msi };
        assert_eq!(
            (msi.address_lo, msi.address_hi, msi.data),
            (0xfee0_1000, 1, 0x4021)
        );
        t.remove(gsi);
        assert_eq!(t.allocate().unwrap(), gsi);
    }
}
