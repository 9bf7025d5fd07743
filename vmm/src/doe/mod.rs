//! Virtual DOE mailboxes for assigned functions (DESIGN §3–§5).
//!
//! For every DOE capability of an assigned function, [`virtualise`] starts a `doe-proxy`
//! [`Mediator`] that owns the physical mailbox (reached through the VFIO config region,
//! [`BackendConfigSpace`]) and builds a [`VirtualDoe`] at the same offset whose
//! [`PolicyFilter`] applies the admin's policy ([`DoeAdmin`]), its denials queued for the
//! event loop to audit ([`GuestAudit`]). A mailbox that another requester holds busy or in
//! Error at start is virtualised all the same: the mediator retries it with backoff, and
//! the guest's exchanges fail (Error) until a retry works, in the same boot. Only a
//! mailbox whose mediator cannot start at all (no threads) or whose capability cannot be
//! read stays hidden from the guest, with one warning.
//!
//! The mediator's worker and notifier threads apply the `doe-mediator` seccomp filter
//! first thing ([`mediator_thread_start`]).

mod audit;
mod filter;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use devices::doe::{VirtualDoe, VirtualDoeConfig};
use devices::vfio::{BackendConfigSpace, PassthroughBackend};
use doe_proxy::config_space::ConfigSpace;
use doe_proxy::ext_cap::{find_doe_mailboxes, EXT_CAP_START};
use doe_proxy::mailbox::{Mailbox, MailboxConfig};
use doe_proxy::mediator::{LeaseConfig, Mediator, MediatorConfig, MediatorThread};
use doe_proxy::protocol::MAX_OBJECT_DWORDS;
use doe_proxy::socket::ServedMailbox;
use policies::{Action, Bdf, ClientIdentity, FunctionId, Policy};

pub use audit::GuestAudit;
pub use doe_proxy::admin::{AuditSink, DoeAdmin};
pub use filter::PolicyFilter;

/// What the DOE virtualisation needs from the VM being built.
#[derive(Debug, Clone)]
pub struct DoeContext {
    /// The policy, rate limiter and audit log shared by every mailbox.
    pub admin: Arc<DoeAdmin>,
    /// Where the guest's denials are queued for the event loop to write.
    pub audit: Arc<GuestAudit>,
    /// The guest's name (`--name`), its policy identity.
    pub guest: String,
    /// How long a vCPU may wait for its guest's exchange (`--doe-completion-wait`).
    pub completion_wait: Duration,
    /// Whether the mediators hold SPDM leases (`--doe-spdm-leases`).
    pub spdm_leases: bool,
}

/// The virtual mailboxes of one function: the mediators (kept as long as the function;
/// also served to host users by `--doe-socket`) and, for each, the offset and the
/// register model to put there.
#[derive(Debug, Default)]
pub struct VirtualMailboxes {
    /// One per physical mailbox served, with its function's identity.
    pub mediators: Vec<ServedMailbox>,
    /// `(offset, model)` for `PassthroughBuilder::virtualise_extended`.
    pub handlers: Vec<(u16, VirtualDoe)>,
}

/// Starts a mediator and builds a virtual mailbox for each DOE capability of the function
/// behind `backend` (host address `bdf`). Mailboxes that cannot be served are left out
/// (the passthrough model then hides them), each with one warning.
pub fn virtualise<B>(backend: &B, bdf: Bdf, ctx: &DoeContext) -> VirtualMailboxes
where
    B: PassthroughBackend + Clone + Send + 'static,
{
    let cfg = BackendConfigSpace(backend.clone());
    // A conventional PCI function has no extended config space (VFIO's config region is
    // 256 bytes), so no DOE: nothing to warn about.
    if cfg.read_u32(EXT_CAP_START).is_err() {
        log::debug!("{bdf}: no extended config space, so no DOE mailbox");
        return VirtualMailboxes::default();
    }
    let offsets = match find_doe_mailboxes(&cfg) {
        Ok(offsets) => offsets,
        Err(e) => {
            log::warn!("{bdf}: cannot walk the extended capabilities, DOE hidden: {e}");
            return VirtualMailboxes::default();
        }
    };
    if offsets.is_empty() {
        return VirtualMailboxes::default();
    }
    let Some(function) = function_id(&cfg, bdf) else {
        return VirtualMailboxes::default();
    };
    // For host users' listings only: a function whose class cannot be read lists 0.
    let class = cfg.read_u32(PCI_CLASS_REVISION).map_or(0, |v| v >> 8);
    let client = ClientIdentity::guest(ctx.guest.clone());
    let config = VirtualDoeConfig {
        max_object_dwords: max_object_dwords(&ctx.admin.policy(), &client, &function),
        completion_wait: ctx.completion_wait,
    };
    let mut out = VirtualMailboxes::default();
    for offset in offsets {
        let mailbox = match Mailbox::new(cfg.clone(), offset, MailboxConfig::default()) {
            Ok(mailbox) => mailbox,
            Err(e) => {
                log::warn!("{bdf}: DOE at {offset:#x} hidden from the guest: {e}");
                continue;
            }
        };
        let mediator_config = MediatorConfig {
            on_thread_start: Some(mediator_thread_start),
            spdm_leases: ctx.spdm_leases.then(LeaseConfig::default),
            ..MediatorConfig::default()
        };
        let mediator = match Mediator::start(mailbox, mediator_config) {
            Ok(mediator) => mediator,
            Err(e) => {
                log::warn!("{bdf}: DOE at {offset:#x} hidden from the guest: {e}");
                continue;
            }
        };
        let filter = Arc::new(PolicyFilter::new(
            ctx.admin.clone(),
            ctx.audit.clone(),
            client.clone(),
            function,
            offset,
        ));
        let name = format!("guest {} ({bdf} DOE {offset:#x})", ctx.guest);
        // Results go straight into the virtual mailbox (see `VirtualDoe`'s sink for why
        // writes the guest queued in KVM's coalesced ring need not be drained first).
        match VirtualDoe::connect(config, filter, |sink| mediator.register(name, sink)) {
            Ok(model) => {
                if mediator.is_dead() {
                    log::warn!(
                        "{bdf}: DOE at {offset:#x} virtualised; the physical mailbox is not \
                         usable yet (the guest's exchanges fail until a retry works)"
                    );
                } else {
                    log::info!("{bdf}: DOE at {offset:#x} virtualised");
                }
                out.handlers.push((offset, model));
                out.mediators.push(ServedMailbox {
                    function,
                    class,
                    mediator: Arc::new(mediator),
                });
            }
            Err(e) => log::warn!("{bdf}: DOE at {offset:#x} hidden from the guest: {e}"),
        }
    }
    out
}

/// Config offset of Revision ID and Class Code.
const PCI_CLASS_REVISION: u16 = 0x08;

/// The function's policy identity: its host address and vendor:device.
fn function_id(cfg: &impl ConfigSpace, bdf: Bdf) -> Option<FunctionId> {
    let ids = match cfg.read_u32(0) {
        Ok(ids) => ids,
        Err(e) => {
            log::warn!("{bdf}: cannot read the vendor and device IDs, DOE hidden: {e}");
            return None;
        }
    };
    let [v0, v1, d0, d1] = ids.to_le_bytes();
    Some(FunctionId::new(
        bdf,
        u16::from_le_bytes([v0, v1]),
        u16::from_le_bytes([d0, d1]),
    ))
}

/// The longest request object the virtual mailbox buffers, fixed when it is built: the
/// largest `max_object_length` of the allow rules for this guest and function (DOE's
/// maximum if one of them has no limit, or if none matches yet — a reload may add one).
/// Each request is also checked against its own rule's limit by the policy, so a reload
/// that lowers a limit applies at once; one that raises it above this value needs a
/// restart.
pub fn max_object_dwords(policy: &Policy, client: &ClientIdentity, function: &FunctionId) -> usize {
    policy
        .rules()
        .iter()
        .filter(|rule| {
            rule.action == Action::Allow
                && rule.clients.matches(client)
                && rule.functions.matches(|f| f.matches(function))
        })
        .map(|rule| rule.max_object_dwords.unwrap_or(MAX_OBJECT_DWORDS))
        .max()
        .unwrap_or(MAX_OBJECT_DWORDS)
}

/// Runs first on each mediator thread: applies the `doe-mediator` seccomp filter. A
/// thread that cannot be confined ends vmm (it would otherwise run unfiltered).
pub fn mediator_thread_start(thread: MediatorThread) {
    if let Err(e) = crate::seccomp::apply(crate::seccomp::ThreadKind::DoeMediator) {
        eprintln!("vmm: DOE mediator {thread:?} thread: {e}");
        std::process::exit(1);
    }
}
