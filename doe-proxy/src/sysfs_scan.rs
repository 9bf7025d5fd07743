//! Finding the PCI functions with DOE mailboxes through sysfs.

use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::config_space::{Access, SysfsConfig, SYSFS_PCI_DEVICES};
use crate::config_space::{ConfigError, ConfigSpace};
use crate::ext_cap::{self, ExtCapError};
use crate::pci_address::Bdf;

/// Config offset of Vendor ID / Device ID (PCI r3.0 §6.2.1).
const PCI_ID: u16 = 0x00;
/// Config offset of Revision ID / Class Code.
const PCI_CLASS_REVISION: u16 = 0x08;

/// One function and its DOE mailboxes.
#[derive(Debug, Clone, Serialize)]
pub struct DoeFunction {
    /// The function's address.
    pub device: Bdf,
    /// Vendor ID.
    pub vendor_id: u16,
    /// Device ID.
    pub device_id: u16,
    /// Class code (base, sub, programming interface), 24 bits.
    pub class: u32,
    /// Offsets of its DOE capabilities.
    pub mailboxes: Vec<u16>,
}

/// Why a function could not be examined.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// Config space could not be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The extended capability chain is malformed.
    #[error(transparent)]
    Chain(#[from] ExtCapError),
}

impl ScanError {
    /// Whether this is a config-space access error (permission, missing device).
    pub fn config(&self) -> Option<&ConfigError> {
        match self {
            ScanError::Config(e) => Some(e),
            ScanError::Chain(ExtCapError::Config(e)) => Some(e),
            ScanError::Chain(_) => None,
        }
    }
}

/// Reads a function's IDs and finds its DOE mailboxes. `extended` says whether the
/// function has extended config space at all (conventional PCI functions have 256 bytes).
pub fn examine(
    cfg: &impl ConfigSpace,
    device: Bdf,
    extended: bool,
) -> Result<DoeFunction, ScanError> {
    let id = cfg.read_u32(PCI_ID)?;
    let class = cfg.read_u32(PCI_CLASS_REVISION)? >> 8;
    let mailboxes = if extended {
        ext_cap::find_doe_mailboxes(cfg)?
    } else {
        Vec::new()
    };
    Ok(DoeFunction {
        device,
        vendor_id: id as u16,
        device_id: (id >> 16) as u16,
        class,
        mailboxes,
    })
}

/// Every function under `/sys/bus/pci/devices`, sorted.
pub fn all_functions() -> std::io::Result<Vec<Bdf>> {
    functions_in(Path::new(SYSFS_PCI_DEVICES))
}

/// Every function directory named like a BDF under `dir`, sorted.
pub fn functions_in(dir: &Path) -> std::io::Result<Vec<Bdf>> {
    let mut found: Vec<Bdf> = fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    found.sort();
    Ok(found)
}

/// Examines the function at `bdf` through its sysfs `config`. The file's size tells
/// whether the function has extended config space (4096 bytes) or not (256); an
/// unprivileged reader sees the full size but reads past 64 bytes come back empty, which
/// is reported as [`ConfigError::Short`].
pub fn examine_sysfs(bdf: Bdf) -> Result<DoeFunction, ScanError> {
    let cfg = SysfsConfig::open(&bdf, Access::ReadOnly)?;
    let size = fs::metadata(cfg.path())
        .map_err(|source| ConfigError::Io { offset: 0, source })?
        .len();
    examine(&cfg, bdf, size > u64::from(ext_cap::EXT_CAP_START))
}
