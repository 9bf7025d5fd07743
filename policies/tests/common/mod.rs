//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use policies::{ClientIdentity, FunctionId, ProtocolId, RequestInfo, SpdmRequestCode};

/// `resources/policies/` of the workspace.
pub fn policies_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../resources/policies")
}

/// QEMU's CXL type-3 device as the bench shows it in L1.
pub fn cxl_function() -> FunctionId {
    FunctionId::new("0000:0d:00.0".parse().unwrap(), 0x8086, 0x0d93)
}

/// QEMU's NVMe VF in the bench.
pub fn nvme_vf() -> FunctionId {
    FunctionId::new("0000:01:00.1".parse().unwrap(), 0x1b36, 0x0010)
}

pub fn guest(name: &str) -> ClientIdentity {
    ClientIdentity::guest(name)
}

/// A CMA/SPDM request with this code, `dwords` long.
pub fn spdm(code: u8, dwords: usize) -> RequestInfo {
    RequestInfo {
        protocol: ProtocolId::CMA_SPDM,
        length_dwords: dwords,
        spdm_code: Some(SpdmRequestCode::new(code).unwrap()),
    }
}

/// A CDAT read request (3 dwords).
pub fn cdat() -> RequestInfo {
    RequestInfo::new(ProtocolId::CXL_TABLE_ACCESS, 3)
}

/// Every protocol the bench's devices offer.
pub const ALL_PROTOCOLS: [ProtocolId; 5] = [
    ProtocolId::DISCOVERY,
    ProtocolId::CMA_SPDM,
    ProtocolId::SECURED_CMA_SPDM,
    ProtocolId::CXL_COMPLIANCE,
    ProtocolId::CXL_TABLE_ACCESS,
];
