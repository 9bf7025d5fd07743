//! Where a command's exchanges go: the function's physical mailboxes (sysfs `config`,
//! root), or a mediator's DOE socket (`--socket`: `vmm --doe-socket`, `doe-proxyd`).

use std::path::PathBuf;
use std::time::Duration;

use doe_proxy::config_space::SysfsConfig;
use doe_proxy::exchange::{walk_discovery, DiscoveryWalkError, ObjectExchange};
use doe_proxy::mailbox::Mailbox;
use doe_proxy::pci_address::Bdf;
use doe_proxy::protocol::ProtocolId;
use doe_proxy::socket::{SocketClient, SocketError, SocketMailbox};

use crate::exit::ToolError;
use crate::{open, MailboxArgs};

/// Discovery version asked through a socket: the server answers any version from its
/// cached list, so the newest (2).
const SOCKET_DISCOVERY_VERSION: u8 = 2;

/// The physical mailboxes, or a socket.
pub enum Target {
    /// Drive the registers through sysfs.
    Direct,
    /// Go through the mediator behind this socket.
    Socket(SocketClient),
}

/// One mailbox of the target, ready to exchange.
pub enum OpenMailbox<'a> {
    /// The register-level driver.
    Direct(Mailbox<SysfsConfig>),
    /// Through the socket.
    Socket(SocketMailbox<'a>),
}

impl Target {
    /// The target of `--socket` (connects now), or the hardware.
    pub fn new(socket: Option<&PathBuf>, args: &MailboxArgs) -> Result<Self, ToolError> {
        match socket {
            None => Ok(Target::Direct),
            Some(path) => {
                // The server answers every request; this only bounds a wedged one.
                let patience =
                    Duration::from_millis(args.timeout_ms).max(Duration::from_secs(1)) * 10;
                Ok(Target::Socket(SocketClient::connect(path, patience)?))
            }
        }
    }

    /// The DOE offsets of `bdf` to use: the one given with `--mailbox` (checked), or all.
    pub fn mailbox_offsets(&mut self, bdf: Bdf, args: &MailboxArgs) -> Result<Vec<u16>, ToolError> {
        let all = match self {
            Target::Direct => open::all_offsets(bdf)?,
            Target::Socket(client) => {
                let listed = client.list()?;
                listed
                    .into_iter()
                    .find(|f| f.device == bdf.to_string())
                    .map(|f| f.mailboxes)
                    .ok_or_else(|| {
                        ToolError::NoSuchDevice(format!(
                            "{bdf} is not served by the DOE socket {}",
                            client.path().display()
                        ))
                    })?
            }
        };
        open::pick_offsets(bdf, all, args.mailbox)
    }

    /// The mailbox at `offset` of `bdf`.
    pub fn open(
        &mut self,
        bdf: Bdf,
        offset: u16,
        args: &MailboxArgs,
    ) -> Result<OpenMailbox<'_>, ToolError> {
        Ok(match self {
            Target::Direct => OpenMailbox::Direct(open::mailbox(bdf, offset, args)?),
            Target::Socket(client) => OpenMailbox::Socket(SocketMailbox::new(client, bdf, offset)),
        })
    }
}

impl OpenMailbox<'_> {
    /// The mailbox's protocols, in index order.
    pub fn discover(&mut self) -> Result<Vec<ProtocolId>, ToolError> {
        match self {
            OpenMailbox::Direct(mailbox) => Ok(mailbox.discover()?),
            OpenMailbox::Socket(mailbox) => walk_discovery(mailbox, SOCKET_DISCOVERY_VERSION)
                .map_err(|e| match e {
                    DiscoveryWalkError::Exchange(e) => e.into(),
                    other => ToolError::Malformed(other.to_string()),
                }),
        }
    }
}

impl ObjectExchange for OpenMailbox<'_> {
    type Error = ToolError;

    fn exchange(&mut self, request: &[u32]) -> Result<Vec<u32>, ToolError> {
        match self {
            OpenMailbox::Direct(mailbox) => Ok(mailbox.exchange(request)?),
            OpenMailbox::Socket(mailbox) => Ok(mailbox.exchange(request)?),
        }
    }
}

impl From<SocketError> for ToolError {
    fn from(e: SocketError) -> Self {
        use doe_proxy::socket::Status;
        let text = e.to_string();
        match e {
            SocketError::Refused { status, .. } => match status {
                Status::Denied | Status::NotAllowed => ToolError::PermissionDenied(text),
                Status::TimedOut => ToolError::Timeout(text),
                Status::DeviceError | Status::MailboxDead => ToolError::Device(text),
                Status::NoSuchMailbox => ToolError::NoSuchDevice(text),
                _ => ToolError::Other(text),
            },
            SocketError::Wire { .. } => ToolError::Malformed(text),
            _ => ToolError::Other(text),
        }
    }
}
