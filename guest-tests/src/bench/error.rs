//! Everything that can stop the bench, each with the message a user sees.

use std::io;
use std::path::PathBuf;

/// A failure of the bench itself (as opposed to a scenario that ran and failed).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A command the bench runs could not be started.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why it could not start.
        #[source]
        source: io::Error,
    },
    /// A command the bench runs exited with an error.
    #[error("`{command}` failed ({status}){detail}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// The tail of its error output, if captured.
        detail: String,
    },
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The bench has not been set up, or its set-up is incomplete.
    #[error("the bench is not set up: {0}; run `bench setup` first")]
    NotSetUp(String),
    /// QEMU is missing or too old.
    #[error("cannot start the bench: {0}")]
    QemuUnavailable(String),
    /// Set-up needs something it cannot do here.
    #[error("bench setup: {0}")]
    Setup(String),
    /// A topology file is missing or malformed.
    #[error("topology `{name}`: {reason}")]
    Topology {
        /// The topology's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// No scenario has that name.
    #[error("no scenario named `{0}` (see `bench list`)")]
    UnknownScenario(String),
    /// A kernel module a topology (L1) or a job (L2) needs is not in the kernel package.
    #[error("kernel module `{0}` not found in the kernel tree {1}")]
    ModuleNotFound(String, PathBuf),
    /// A `--file src:dest` argument is malformed.
    #[error("bad file mapping `{0}`: expected <source>:<absolute destination>")]
    BadFileMapping(String),
}

impl BenchError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> BenchError {
        let path = path.into();
        move |source| BenchError::Io { path, source }
    }
}
