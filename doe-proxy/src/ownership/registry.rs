//! The owner registry: a directory with one file per PCI function, named by its address
//! (`0000:0d:00.0`), in which the mediator that drives the function's DOE mailboxes (`vmm`,
//! `doe-proxyd`) says so while it runs. `/run/doe-proxy/owners` unless the environment
//! variable `DOE_PROXY_OWNER_DIR` names another. A file whose process is gone is stale:
//! readers ignore it and the next owner replaces it.

use std::io;
use std::path::{Path, PathBuf};

use super::liveness;
use super::record::OwnerRecord;
use super::registration::{write_atomically, Registration};
use crate::pci_address::Bdf;

/// Where owners register, unless [`OWNER_DIR_ENV`] says otherwise.
pub const DEFAULT_OWNER_DIR: &str = "/run/doe-proxy/owners";
/// The environment variable that moves the registry (tests, or a host that keeps it
/// elsewhere); every owner and reader must see the same value.
pub const OWNER_DIR_ENV: &str = "DOE_PROXY_OWNER_DIR";

/// The registry's directory, and the `/proc` its pids are checked in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    dir: PathBuf,
    proc_root: PathBuf,
}

/// What the registry holds for one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Nothing: no mediator registered it.
    Absent,
    /// A running mediator owns it.
    Live(OwnerRecord),
    /// A registration whose process is gone; ignored.
    Stale(OwnerRecord),
    /// A file that is not a registration; ignored.
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why it is not one.
        reason: String,
    },
}

/// One function to register and the mailboxes its owner drives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The function.
    pub function: Bdf,
    /// The config-space offsets of its DOE mailboxes.
    pub mailboxes: Vec<u16>,
}

/// Why a function could not be registered (a warning for its owner, which runs anyway).
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Another running process registered it first.
    #[error("{function} is already registered by {owner} ({path}); not registered")]
    Owned {
        /// The function.
        function: Bdf,
        /// Its registered owner.
        owner: OwnerRecord,
        /// The registration file.
        path: PathBuf,
    },
    /// The registry's directory could not be created.
    #[error("cannot create the owner registry {dir}: {source}")]
    Directory {
        /// The directory.
        dir: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// The registration file could not be written.
    #[error("cannot write the owner registration {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
}

impl Registry {
    /// The registry in `dir`, pids checked in `/proc`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Registry {
            dir: dir.into(),
            proc_root: PathBuf::from("/proc"),
        }
    }

    /// The registry named by [`OWNER_DIR_ENV`], else [`DEFAULT_OWNER_DIR`].
    pub fn from_env() -> Self {
        match std::env::var_os(OWNER_DIR_ENV) {
            Some(dir) if !dir.is_empty() => Self::new(dir),
            _ => Self::new(DEFAULT_OWNER_DIR),
        }
    }

    /// The same registry, with pids checked under `proc_root` (tests).
    pub fn with_proc(self, proc_root: impl Into<PathBuf>) -> Self {
        Registry {
            proc_root: proc_root.into(),
            ..self
        }
    }

    /// The registry's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The registration file of `function`.
    pub fn path_of(&self, function: Bdf) -> PathBuf {
        self.dir.join(function.to_string())
    }

    /// What the registry holds for `function`.
    pub fn entry(&self, function: Bdf) -> Entry {
        let path = self.path_of(function);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Entry::Absent,
            Err(e) => {
                return Entry::Invalid {
                    path,
                    reason: e.to_string(),
                }
            }
        };
        match OwnerRecord::parse(&text) {
            Ok(record) if self.is_alive(&record) => Entry::Live(record),
            Ok(record) => Entry::Stale(record),
            Err(reason) => Entry::Invalid { path, reason },
        }
    }

    /// Whether the process of `record` still runs.
    fn is_alive(&self, record: &OwnerRecord) -> bool {
        liveness::is_alive(&self.proc_root, record.pid, record.start_time)
    }

    /// Registers this process as `program` (serving `socket`, if any) for each claim.
    /// Returns the guard, which removes the files it wrote when dropped, and the claims
    /// that failed: warnings for the caller, which goes on without them (e.g. not root).
    pub fn register(
        &self,
        program: &str,
        socket: Option<&Path>,
        claims: &[Claim],
    ) -> (Registration, Vec<RegisterError>) {
        let pid = std::process::id();
        let mut registration = Registration::new(pid);
        let mut failures = Vec::new();
        for claim in claims {
            let record = OwnerRecord {
                program: program.to_owned(),
                pid,
                start_time: liveness::start_time(&self.proc_root, pid),
                socket: socket.map(Path::to_path_buf),
                mailboxes: claim.mailboxes.clone(),
            };
            match self.register_one(claim.function, &record) {
                Ok(path) => registration.push(claim.function, path),
                Err(e) => failures.push(e),
            }
        }
        (registration, failures)
    }

    /// Writes `record` as the owner of `function`, unless another live process holds it.
    fn register_one(&self, function: Bdf, record: &OwnerRecord) -> Result<PathBuf, RegisterError> {
        let path = self.path_of(function);
        if let Entry::Live(owner) = self.entry(function) {
            if owner.pid != record.pid {
                return Err(RegisterError::Owned {
                    function,
                    owner,
                    path,
                });
            }
        }
        let text = record.render().map_err(|e| RegisterError::Write {
            path: path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidInput, e),
        })?;
        create_dir_0755(&self.dir).map_err(|source| RegisterError::Directory {
            dir: self.dir.clone(),
            source,
        })?;
        write_atomically(&path, &text).map_err(|source| RegisterError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

/// Mode of the registry's directories: anyone may read who owns what.
const DIR_MODE: u32 = 0o755;

/// Creates `dir` and its missing parents, each with mode 0755 whatever the umask.
fn create_dir_0755(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
    for d in missing.into_iter().rev() {
        match std::fs::DirBuilder::new().mode(DIR_MODE).create(d) {
            Ok(()) => std::fs::set_permissions(d, std::fs::Permissions::from_mode(DIR_MODE))?,
            // Another owner created it meanwhile.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::ownership::test_tree::FakeHost;

    fn bdf(text: &str) -> Bdf {
        text.parse().unwrap()
    }

    fn claim(function: &str) -> Claim {
        Claim {
            function: bdf(function),
            mailboxes: vec![0x190],
        }
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_registration_reads_back_while_its_process_runs() {
        let host = FakeHost::new();
        host.process(std::process::id(), 5);
        let registry = host.registry();
        let socket = Path::new("/run/doe.sock");
        let (guard, failures) = registry.register("vmm", Some(socket), &[claim("0d:00.0")]);
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(guard.functions(), vec![bdf("0000:0d:00.0")]);
        match registry.entry(bdf("0000:0d:00.0")) {
            Entry::Live(record) => {
                assert_eq!(record.program, "vmm");
                assert_eq!(record.pid, std::process::id());
                assert_eq!(record.start_time, Some(5));
                assert_eq!(record.socket.as_deref(), Some(socket));
                assert_eq!(record.mailboxes, vec![0x190]);
            }
            other => panic!("expected a live owner, got {other:?}"),
        }
        assert_eq!(registry.entry(bdf("0000:0d:00.1")), Entry::Absent);
    }

    #[test]
    fn files_and_directories_are_world_readable() {
        let host = FakeHost::new();
        let registry = host.registry();
        let (_guard, failures) = registry.register("doe-proxyd", None, &[claim("0d:00.0")]);
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(mode(registry.dir()), 0o755);
        assert_eq!(mode(registry.dir().parent().unwrap()), 0o755);
        assert_eq!(mode(&registry.path_of(bdf("0d:00.0"))), 0o644);
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(registry.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["0000:0d:00.0"]);
    }

    #[test]
    fn dropping_the_guard_removes_its_files() {
        let host = FakeHost::new();
        host.process(std::process::id(), 5);
        let registry = host.registry();
        let (guard, _) = registry.register("vmm", None, &[claim("0d:00.0"), claim("0d:00.1")]);
        assert!(registry.path_of(bdf("0d:00.1")).exists());
        drop(guard);
        assert!(!registry.path_of(bdf("0d:00.0")).exists());
        assert!(!registry.path_of(bdf("0d:00.1")).exists());
        assert_eq!(registry.entry(bdf("0d:00.0")), Entry::Absent);
    }

    #[test]
    fn a_registration_of_a_dead_process_is_stale_and_replaced() {
        let host = FakeHost::new();
        host.process(std::process::id(), 5);
        let registry = host.registry();
        std::fs::create_dir_all(registry.dir()).unwrap();
        let path = registry.path_of(bdf("0d:00.0"));
        // Pid 999999 has no /proc entry in the fake tree.
        std::fs::write(&path, "program = \"vmm\"\npid = 999999\n").unwrap();
        assert!(matches!(registry.entry(bdf("0d:00.0")), Entry::Stale(r) if r.pid == 999_999));
        let (_guard, failures) = registry.register("doe-proxyd", None, &[claim("0d:00.0")]);
        assert!(failures.is_empty(), "{failures:?}");
        assert!(
            matches!(registry.entry(bdf("0d:00.0")), Entry::Live(r) if r.program == "doe-proxyd")
        );
    }

    #[test]
    fn a_live_owner_is_not_replaced() {
        let host = FakeHost::new();
        host.process(4242, 1);
        let registry = host.registry();
        std::fs::create_dir_all(registry.dir()).unwrap();
        let path = registry.path_of(bdf("0d:00.0"));
        std::fs::write(&path, "program = \"vmm\"\npid = 4242\nstart_time = 1\n").unwrap();
        let (guard, failures) = registry.register("doe-proxyd", None, &[claim("0d:00.0")]);
        assert!(guard.functions().is_empty());
        match failures.as_slice() {
            [RegisterError::Owned { owner, .. }] => assert_eq!(owner.pid, 4242),
            other => panic!("expected one Owned failure, got {other:?}"),
        }
        drop(guard);
        // The other owner's file stays.
        assert!(matches!(registry.entry(bdf("0d:00.0")), Entry::Live(r) if r.pid == 4242));
    }

    #[test]
    fn the_guard_leaves_a_file_another_owner_has_taken_over() {
        let host = FakeHost::new();
        let registry = host.registry();
        let (guard, _) = registry.register("vmm", None, &[claim("0d:00.0")]);
        let path = registry.path_of(bdf("0d:00.0"));
        std::fs::write(&path, "program = \"doe-proxyd\"\npid = 4242\n").unwrap();
        drop(guard);
        assert!(path.exists());
    }

    #[test]
    fn garbage_is_invalid_with_its_reason_and_replaced() {
        let host = FakeHost::new();
        host.process(std::process::id(), 5);
        let registry = host.registry();
        std::fs::create_dir_all(registry.dir()).unwrap();
        std::fs::write(registry.path_of(bdf("0d:00.0")), [0xff, 0x00, 0x13]).unwrap();
        match registry.entry(bdf("0d:00.0")) {
            Entry::Invalid { path, reason } => {
                assert_eq!(path, registry.path_of(bdf("0d:00.0")));
                assert!(!reason.is_empty());
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
        let (_guard, failures) = registry.register("vmm", None, &[claim("0d:00.0")]);
        assert!(failures.is_empty(), "{failures:?}");
        assert!(matches!(registry.entry(bdf("0d:00.0")), Entry::Live(_)));
    }

    #[test]
    fn an_unwritable_registry_is_a_failure_not_a_panic() {
        let host = FakeHost::new();
        let blocker = host.paths().sys.join("a-file");
        std::fs::write(&blocker, "").unwrap();
        // A directory cannot be created under a regular file, even by root.
        let registry = Registry::new(blocker.join("owners"));
        let (guard, failures) = registry.register("vmm", None, &[claim("0d:00.0")]);
        assert!(guard.functions().is_empty());
        assert!(
            matches!(failures.as_slice(), [RegisterError::Directory { .. }]),
            "{failures:?}"
        );
    }
}
