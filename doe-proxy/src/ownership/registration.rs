//! The owner's side of the registry: the atomic write of a registration file, the guard
//! that removes the files when the owner stops, and the registration of the mailboxes a
//! mediator serves (what `vmm` and `doe-proxyd` call).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::record::OwnerRecord;
use super::registry::{Claim, Registry};
use crate::pci_address::Bdf;
use crate::socket::ServedMailbox;

/// Mode of a registration file: anyone may read who owns a function.
const FILE_MODE: u32 = 0o644;

/// The registrations of one process; dropping it removes each file that still names this
/// process (a file another owner has since written is left alone).
#[derive(Debug)]
#[must_use = "the registration is removed when this guard drops"]
pub struct Registration {
    pid: u32,
    files: Vec<(Bdf, PathBuf)>,
}

impl Registration {
    /// No registration yet, for process `pid`.
    pub(super) fn new(pid: u32) -> Self {
        Registration {
            pid,
            files: Vec::new(),
        }
    }

    /// Records that `function` was registered in `path`.
    pub(super) fn push(&mut self, function: Bdf, path: PathBuf) {
        self.files.push((function, path));
    }

    /// The functions registered.
    pub fn functions(&self) -> Vec<Bdf> {
        self.files.iter().map(|(f, _)| *f).collect()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        for (function, path) in &self.files {
            let ours = fs::read_to_string(path)
                .ok()
                .and_then(|text| OwnerRecord::parse(&text).ok())
                .is_some_and(|record| record.pid == self.pid);
            if !ours {
                continue;
            }
            if let Err(e) = fs::remove_file(path) {
                log::warn!(
                    "cannot remove the owner registration of {function} ({}): {e}",
                    path.display()
                );
            }
        }
    }
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename, so
/// a reader sees the old file or the new one, never a part; mode 0644 whatever the umask.
pub(super) fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let temp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    // Left over by a crashed process with this pid.
    let _ = fs::remove_file(&temp);
    let result = (|| {
        // create_new: never write through a link planted at the temporary name.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// The claims of a mediator's mailboxes: one per function, its offsets in order.
pub fn claims_of(served: &[ServedMailbox]) -> Vec<Claim> {
    let mut claims: Vec<Claim> = Vec::new();
    for mailbox in served {
        let function = mailbox.function.bdf;
        let offset = mailbox.mediator.cap_offset();
        match claims.iter_mut().find(|c| c.function == function) {
            Some(claim) => claim.mailboxes.push(offset),
            None => claims.push(Claim {
                function,
                mailboxes: vec![offset],
            }),
        }
    }
    claims
}

/// Registers this process as `program` for the functions of `served` in the registry of
/// the environment ([`Registry::from_env`]), with `socket` made absolute. Failures are
/// logged as warnings and never stop the owner: it mediates the mailboxes all the same,
/// only `doectl` cannot tell.
pub fn register_served(
    program: &str,
    socket: Option<&Path>,
    served: &[ServedMailbox],
) -> Registration {
    let registry = Registry::from_env();
    let socket = socket.map(|s| std::path::absolute(s).unwrap_or_else(|_| s.to_path_buf()));
    let (registration, failures) =
        registry.register(program, socket.as_deref(), &claims_of(served));
    for failure in failures {
        log::warn!("{failure}: doectl will not know this function is mediated");
    }
    registration
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ownership::test_tree::FakeHost;

    /// A mediator on the emulated function's mailbox at `offset`, served as `function`.
    fn served(function: &str, offset: u16) -> ServedMailbox {
        use crate::emulated::{DoeSpec, EmulatedFunction};
        use crate::mailbox::{Mailbox, MailboxConfig};
        use crate::mediator::{Mediator, MediatorConfig};
        use std::sync::Arc;
        let emulated = EmulatedFunction::builder()
            .doe(DoeSpec::new(offset))
            .build()
            .unwrap();
        let mailbox = Mailbox::new(Arc::new(emulated), offset, MailboxConfig::default()).unwrap();
        ServedMailbox {
            function: policies::FunctionId::new(function.parse().unwrap(), 0x8086, 0x0d93),
            class: 0x05_02_10,
            mediator: Arc::new(Mediator::start(mailbox, MediatorConfig::default()).unwrap()),
        }
    }

    #[test]
    fn the_claims_of_served_mailboxes_group_them_by_function() {
        let claims = claims_of(&[
            served("0d:00.0", 0x190),
            served("0e:00.0", 0x100),
            served("0d:00.0", 0x1b0),
        ]);
        assert_eq!(
            claims,
            vec![
                Claim {
                    function: "0d:00.0".parse().unwrap(),
                    mailboxes: vec![0x190, 0x1b0],
                },
                Claim {
                    function: "0e:00.0".parse().unwrap(),
                    mailboxes: vec![0x100],
                },
            ]
        );
    }

    #[test]
    fn an_atomic_write_replaces_the_whole_file() {
        let host = FakeHost::new();
        let path = host.paths().sys.join("owned");
        write_atomically(&path, "first, longer text\n").unwrap();
        write_atomically(&path, "second\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "second\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, FILE_MODE);
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let host = FakeHost::new();
        let dir = host.paths().sys.join("target-is-a-directory");
        fs::create_dir_all(&dir).unwrap();
        // Renaming a file onto a non-empty directory fails.
        fs::write(dir.join("inside"), "").unwrap();
        assert!(write_atomically(&dir, "text").is_err());
        let leftovers: Vec<_> = fs::read_dir(host.paths().sys)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
