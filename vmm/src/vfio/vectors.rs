//! Bookkeeping of one function's MSI/MSI-X vectors: which GSI each vector routes through,
//! and whether its irqfd is attached. Pure: it edits the [`GsiRouting`] table and says
//! what KVM must be told ([`Plan`]); the sink carries the plan out.
//!
//! A vector gets a GSI the first time it is unmasked and keeps it until its kind is
//! disabled (vectors the guest never unmasks cost nothing). Its irqfd is attached while it
//! is unmasked and detached while masked: an interrupt that fires while masked stays
//! pending in the eventfd and KVM delivers it when the irqfd is attached again.

use std::collections::HashMap;

use devices::vfio::{InterruptUpdate, IrqKind, MsiMessage, VectorRoute};

use crate::interrupts::{GsiRouting, RoutingError};

/// An irqfd to attach or detach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqfdChange {
    /// Bind the eventfd of (`kind`, `vector`) to `gsi`.
    Attach {
        /// The mechanism.
        kind: IrqKind,
        /// Vector index.
        vector: u32,
        /// The GSI.
        gsi: u32,
    },
    /// Unbind it.
    Detach {
        /// The mechanism.
        kind: IrqKind,
        /// Vector index.
        vector: u32,
        /// The GSI.
        gsi: u32,
    },
}

/// What KVM must be told after an update: detaches first, then the routing table (if it
/// changed), then attaches — so an attached irqfd never points at a stale route.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The routing table changed: commit it (`KVM_SET_GSI_ROUTING`).
    pub commit: bool,
    /// Irqfd changes, detaches before attaches.
    pub irqfds: Vec<IrqfdChange>,
}

#[derive(Debug, Clone, Copy)]
struct VectorState {
    gsi: u32,
    message: MsiMessage,
    attached: bool,
}

/// The vectors of one function.
#[derive(Debug, Default)]
pub struct VectorTable {
    vectors: HashMap<(IrqKind, u32), VectorState>,
}

impl VectorTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The GSI of (`kind`, `vector`), if it has one.
    pub fn gsi(&self, kind: IrqKind, vector: u32) -> Option<u32> {
        self.vectors.get(&(kind, vector)).map(|v| v.gsi)
    }

    /// Applies an MSI/MSI-X update to `routing` and returns what KVM must be told. INTx
    /// updates are not this table's business and yield an empty plan.
    pub fn apply(
        &mut self,
        update: InterruptUpdate,
        routing: &mut GsiRouting,
    ) -> Result<Plan, RoutingError> {
        match update {
            InterruptUpdate::Vector {
                kind: kind @ (IrqKind::Msi | IrqKind::Msix),
                vector,
                route,
            } => self.vector(kind, vector, route, routing),
            InterruptUpdate::Disabled {
                kind: kind @ (IrqKind::Msi | IrqKind::Msix),
            } => Ok(self.disable(kind, routing)),
            _ => Ok(Plan::default()),
        }
    }

    fn vector(
        &mut self,
        kind: IrqKind,
        vector: u32,
        route: VectorRoute,
        routing: &mut GsiRouting,
    ) -> Result<Plan, RoutingError> {
        let mut plan = Plan::default();
        let state = match self.vectors.get_mut(&(kind, vector)) {
            Some(state) => state,
            // Masked and never used: nothing to route yet.
            None if route.masked => return Ok(plan),
            None => {
                let gsi = routing.allocate()?;
                routing.set_msi(gsi, route.message.address, route.message.data);
                plan.commit = true;
                self.vectors.entry((kind, vector)).or_insert(VectorState {
                    gsi,
                    message: route.message,
                    attached: false,
                })
            }
        };
        if state.message != route.message {
            routing.set_msi(state.gsi, route.message.address, route.message.data);
            state.message = route.message;
            plan.commit = true;
        }
        let gsi = state.gsi;
        match (route.masked, state.attached) {
            (true, true) => {
                state.attached = false;
                plan.irqfds.push(IrqfdChange::Detach { kind, vector, gsi });
            }
            (false, false) => {
                state.attached = true;
                plan.irqfds.push(IrqfdChange::Attach { kind, vector, gsi });
            }
            _ => {}
        }
        Ok(plan)
    }

    fn disable(&mut self, kind: IrqKind, routing: &mut GsiRouting) -> Plan {
        let mut plan = Plan::default();
        let mut gone: Vec<(u32, VectorState)> = self
            .vectors
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, v), s)| (*v, *s))
            .collect();
        gone.sort_by_key(|(v, _)| *v);
        for (vector, state) in gone {
            self.vectors.remove(&(kind, vector));
            if state.attached {
                plan.irqfds.push(IrqfdChange::Detach {
                    kind,
                    vector,
                    gsi: state.gsi,
                });
            }
            routing.remove(state.gsi);
            plan.commit = true;
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interrupts::{Route, IOAPIC_PINS};

    fn route(address: u64, data: u32, masked: bool) -> InterruptUpdate {
        InterruptUpdate::Vector {
            kind: IrqKind::Msix,
            vector: 0,
            route: VectorRoute {
                message: MsiMessage { address, data },
                masked,
            },
        }
    }

    #[test]
    fn masked_unused_vectors_cost_nothing() {
        let (mut t, mut r) = (VectorTable::new(), GsiRouting::legacy());
        assert_eq!(t.apply(route(0, 0, true), &mut r).unwrap(), Plan::default());
        assert_eq!(t.gsi(IrqKind::Msix, 0), None);
    }

    #[test]
    fn unmask_routes_and_attaches_mask_detaches_and_keeps_the_gsi() {
        let (mut t, mut r) = (VectorTable::new(), GsiRouting::legacy());
        let gsi = IOAPIC_PINS;
        let attach = IrqfdChange::Attach {
            kind: IrqKind::Msix,
            vector: 0,
            gsi,
        };
        let p = t.apply(route(0xfee0_0000, 0x41, false), &mut r).unwrap();
        assert_eq!((p.commit, p.irqfds), (true, vec![attach]));
        assert_eq!(
            r.routes(gsi),
            &[Route::Msi {
                address: 0xfee0_0000,
                data: 0x41
            }]
        );
        // The same route again: nothing to do.
        assert_eq!(
            t.apply(route(0xfee0_0000, 0x41, false), &mut r).unwrap(),
            Plan::default()
        );
        let p = t.apply(route(0xfee0_0000, 0x41, true), &mut r).unwrap();
        assert!(!p.commit);
        assert_eq!(
            p.irqfds,
            vec![IrqfdChange::Detach {
                kind: IrqKind::Msix,
                vector: 0,
                gsi
            }]
        );
        // A new message while masked: re-routed, still detached, same GSI.
        let p = t.apply(route(0xfee0_1000, 0x42, true), &mut r).unwrap();
        assert_eq!((p.commit, p.irqfds.len()), (true, 0));
        assert_eq!(t.gsi(IrqKind::Msix, 0), Some(gsi));
        let p = t.apply(route(0xfee0_1000, 0x42, false), &mut r).unwrap();
        assert_eq!((p.commit, p.irqfds), (false, vec![attach]));
    }

    #[test]
    fn disabling_detaches_and_frees_every_vector_of_the_kind() {
        let (mut t, mut r) = (VectorTable::new(), GsiRouting::legacy());
        for vector in 0..3 {
            let u = InterruptUpdate::Vector {
                kind: IrqKind::Msi,
                vector,
                route: VectorRoute {
                    message: MsiMessage {
                        address: 0xfee0_0000,
                        data: 0x30 + vector,
                    },
                    masked: vector == 1,
                },
            };
            t.apply(u, &mut r).unwrap();
        }
        t.apply(route(0xfee0_0000, 0x50, false), &mut r).unwrap();
        let p = t
            .apply(InterruptUpdate::Disabled { kind: IrqKind::Msi }, &mut r)
            .unwrap();
        assert!(p.commit);
        assert_eq!(
            p.irqfds,
            vec![
                IrqfdChange::Detach {
                    kind: IrqKind::Msi,
                    vector: 0,
                    gsi: IOAPIC_PINS
                },
                IrqfdChange::Detach {
                    kind: IrqKind::Msi,
                    vector: 2,
                    gsi: IOAPIC_PINS + 1
                }
            ]
        );
        assert_eq!(t.gsi(IrqKind::Msi, 0), None);
        assert_eq!(t.gsi(IrqKind::Msix, 0), Some(IOAPIC_PINS + 2));
        assert!(r.routes(IOAPIC_PINS).is_empty());
        assert_eq!(r.allocate().unwrap(), IOAPIC_PINS, "freed GSIs are reused");
    }

    #[test]
    fn intx_and_enable_updates_are_ignored() {
        let (mut t, mut r) = (VectorTable::new(), GsiRouting::legacy());
        let u = InterruptUpdate::Enabled {
            kind: IrqKind::Msix,
            vectors: 4,
        };
        assert_eq!(t.apply(u, &mut r).unwrap(), Plan::default());
        let u = InterruptUpdate::Disabled {
            kind: IrqKind::Intx,
        };
        assert_eq!(t.apply(u, &mut r).unwrap(), Plan::default());
    }
}
