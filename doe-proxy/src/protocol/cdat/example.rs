//! A CDAT like the one QEMU's `cxl-type3` builds for one volatile memory region.

use super::structures::{
    CdatStructure, Dsemts, Dslbis, Dsmas, DSEMTS_EFI_SPECIFIC_PURPOSE, DSLBIS_FLAGS_MEMORY,
    HMAT_READ_BANDWIDTH, HMAT_READ_LATENCY, HMAT_WRITE_BANDWIDTH, HMAT_WRITE_LATENCY,
};
use super::{CdatTable, CDAT_REVISION};

/// Size of the volatile region [`example_type3_table`] describes: 256 MiB.
pub const EXAMPLE_TYPE3_REGION_BYTES: u64 = 256 << 20;

/// Latency base unit QEMU uses: 10 ns, in picoseconds.
const LATENCY_BASE_PS: u64 = 10_000;
/// Bandwidth base unit QEMU uses: 1 GB/s, in MB/s.
const BANDWIDTH_BASE_MBPS: u64 = 1000;

/// The CDAT of a QEMU `cxl-type3` device with one 256 MiB volatile region
/// (`hw/mem/cxl_type3.c`, `ct3_build_cdat_entries_for_mr` and `hw/cxl/cxl-cdat.c`,
/// `ct3_build_cdat`): revision 2, sequence 0, and for DSMAD handle 0
/// - a DSMAS: flags 0 (volatile), DPA base 0, length 256 MiB;
/// - four DSLBIS, flags "memory", base units 10 000 ps and 1000 MB/s: read latency
///   15 (150 ns), write latency 25 (250 ns), read and write bandwidth 16 (16 GB/s);
/// - a DSEMTS: EFI conventional memory with EFI_MEMORY_SP (1; early QEMU versions
///   wrote 2, EfiReservedMemoryType, for every region), offset 0, length 256 MiB.
///
/// The header's length (160) and checksum are filled in. Encoded it is 160 bytes; as
/// Table Access entries it is the header plus six 24-byte structures.
pub fn example_type3_table() -> CdatTable {
    let handle = 0;
    let dslbis = |data_type, entry_base_unit, value| {
        CdatStructure::Dslbis(Dslbis {
            handle,
            flags: DSLBIS_FLAGS_MEMORY,
            data_type,
            entry_base_unit,
            entries: [value, 0, 0],
        })
    };
    let structures = vec![
        CdatStructure::Dsmas(Dsmas {
            dsmad_handle: handle,
            flags: 0,
            dpa_base: 0,
            dpa_length: EXAMPLE_TYPE3_REGION_BYTES,
        }),
        dslbis(HMAT_READ_LATENCY, LATENCY_BASE_PS, 15),
        dslbis(HMAT_WRITE_LATENCY, LATENCY_BASE_PS, 25),
        dslbis(HMAT_READ_BANDWIDTH, BANDWIDTH_BASE_MBPS, 16),
        dslbis(HMAT_WRITE_BANDWIDTH, BANDWIDTH_BASE_MBPS, 16),
        CdatStructure::Dsemts(Dsemts {
            dsmas_handle: handle,
            efi_memory_type_attr: DSEMTS_EFI_SPECIFIC_PURPOSE,
            dpa_offset: 0,
            dpa_length: EXAMPLE_TYPE3_REGION_BYTES,
        }),
    ];
    CdatTable::new(CDAT_REVISION, 0, structures).expect("six fixed-size structures always fit")
}
