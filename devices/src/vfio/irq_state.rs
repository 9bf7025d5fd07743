//! Keeps the backend's interrupt setup and the VMM's routes in line with what the guest
//! programmed, emitting only the differences (see [`super::interrupt`] for the order).

use super::backend::{IrqKind, PassthroughBackend};
use super::interrupt::{InterruptSink, InterruptUpdate, VectorRoute};
use crate::log_limit::warn_limited;

/// Vectors INTx has.
const INTX_VECTORS: u32 = 1;

/// The interrupt state last announced to the sink and the backend.
#[derive(Debug, Default)]
pub(crate) struct InterruptState {
    intx_available: bool,
    intx_enabled: bool,
    msi: Option<Vec<VectorRoute>>,
    msix: Option<Vec<VectorRoute>>,
}

impl InterruptState {
    /// Nothing announced yet; INTx is used when MSI and MSI-X are off if `intx_available`.
    pub(crate) fn new(intx_available: bool) -> Self {
        InterruptState {
            intx_available,
            ..Self::default()
        }
    }

    /// Brings everything in line with the guest's wanted MSI and MSI-X routes (`None`:
    /// disabled). If the guest enables both — software must not — MSI-X wins.
    pub(crate) fn sync(
        &mut self,
        want_msi: Option<Vec<VectorRoute>>,
        want_msix: Option<Vec<VectorRoute>>,
        backend: &dyn PassthroughBackend,
        sink: &mut dyn InterruptSink,
    ) {
        let want_msi = if want_msix.is_some() { None } else { want_msi };
        // Disable what goes away, or changes its number of vectors, first.
        for (kind, want) in [(IrqKind::Msi, &want_msi), (IrqKind::Msix, &want_msix)] {
            let Some(current) = self.slot(kind) else {
                continue;
            };
            let resized = matches!((&*current, want), (Some(c), Some(w)) if c.len() != w.len());
            if current.is_some() && (want.is_none() || resized) {
                *current = None;
                disable(kind, backend, sink);
            }
        }
        let any_msi = want_msi.is_some() || want_msix.is_some();
        if any_msi && self.intx_enabled {
            self.intx_enabled = false;
            disable(IrqKind::Intx, backend, sink);
        }
        for (kind, want) in [(IrqKind::Msi, want_msi), (IrqKind::Msix, want_msix)] {
            let (Some(want), Some(slot)) = (want, self.slot(kind)) else {
                continue;
            };
            match slot.replace(want.clone()) {
                None => enable(kind, &want, backend, sink),
                Some(current) => announce_changes(kind, &current, &want, sink),
            }
        }
        if !any_msi && self.intx_available && !self.intx_enabled {
            self.intx_enabled = true;
            sink.update(InterruptUpdate::Enabled {
                kind: IrqKind::Intx,
                vectors: INTX_VECTORS,
            });
            if let Err(e) = backend.enable_irq(IrqKind::Intx, INTX_VECTORS) {
                warn_limited!("passthrough: cannot enable INTx: {e}");
            }
        }
    }

    /// Announces a new route for one vector of `kind` if it is enabled and the route
    /// changed (the fast path for one MSI-X table entry).
    pub(crate) fn sync_vector(
        &mut self,
        kind: IrqKind,
        vector: u32,
        route: VectorRoute,
        sink: &mut dyn InterruptSink,
    ) {
        let Some(Some(routes)) = self.slot(kind) else {
            return;
        };
        let Some(current) = usize::try_from(vector).ok().and_then(|i| routes.get_mut(i)) else {
            return;
        };
        if *current != route {
            *current = route;
            sink.update(InterruptUpdate::Vector {
                kind,
                vector,
                route,
            });
        }
    }

    /// The announced routes of a message-signalled kind (INTx has none).
    fn slot(&mut self, kind: IrqKind) -> Option<&mut Option<Vec<VectorRoute>>> {
        match kind {
            IrqKind::Intx => None,
            IrqKind::Msi => Some(&mut self.msi),
            IrqKind::Msix => Some(&mut self.msix),
        }
    }
}

fn enable(
    kind: IrqKind,
    routes: &[VectorRoute],
    backend: &dyn PassthroughBackend,
    sink: &mut dyn InterruptSink,
) {
    let vectors = routes.len() as u32;
    sink.update(InterruptUpdate::Enabled { kind, vectors });
    for (vector, route) in routes.iter().enumerate() {
        sink.update(InterruptUpdate::Vector {
            kind,
            vector: vector as u32,
            route: *route,
        });
    }
    if let Err(e) = backend.enable_irq(kind, vectors) {
        warn_limited!("passthrough: cannot enable {kind:?} with {vectors} vectors: {e}");
    }
}

fn disable(kind: IrqKind, backend: &dyn PassthroughBackend, sink: &mut dyn InterruptSink) {
    if let Err(e) = backend.disable_irq(kind) {
        warn_limited!("passthrough: cannot disable {kind:?}: {e}");
    }
    sink.update(InterruptUpdate::Disabled { kind });
}

fn announce_changes(
    kind: IrqKind,
    current: &[VectorRoute],
    want: &[VectorRoute],
    sink: &mut dyn InterruptSink,
) {
    for (vector, (old, new)) in current.iter().zip(want).enumerate() {
        if old != new {
            sink.update(InterruptUpdate::Vector {
                kind,
                vector: vector as u32,
                route: *new,
            });
        }
    }
}
