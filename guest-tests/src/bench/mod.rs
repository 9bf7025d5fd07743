//! The bench, one job per module.

pub mod apt;
pub mod binaries;
pub mod error;
pub mod host_programs;
pub mod initramfs;
pub mod job;
pub mod kernel;
pub mod l1_env;
pub mod layout;
pub mod modules;
pub mod qemu;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod setup;
pub mod topology;

pub use error::BenchError;
