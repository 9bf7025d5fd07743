//! Table-level tests: parse, encode and every rejection.

use super::structures::*;
use super::*;

/// QEMU's cxl-type3 CDAT for one 256 MiB volatile region, written out by hand. The
/// checksum byte 0x0d was computed separately: the other bytes sum to 0xf3 mod 256.
#[rustfmt::skip]
const QEMU_TYPE3_BYTES: [u8; 160] = [
    // Header: length 160, revision 2, checksum, 6 reserved, sequence 0.
    0xa0, 0, 0, 0,  2, 0x0d,  0, 0, 0, 0, 0, 0,  0, 0, 0, 0,
    // DSMAS: type 0, length 24, handle 0, flags 0, DPA base 0, DPA length 0x1000_0000.
    0, 0, 24, 0,  0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0x10, 0, 0, 0, 0,
    // DSLBIS: read latency (1), base 10000 (0x2710) ps, entry 15.
    1, 0, 24, 0,  0, 0, 1, 0,  0x10, 0x27, 0, 0, 0, 0, 0, 0,  15, 0, 0, 0, 0, 0,  0, 0,
    // DSLBIS: write latency (2), base 10000 ps, entry 25.
    1, 0, 24, 0,  0, 0, 2, 0,  0x10, 0x27, 0, 0, 0, 0, 0, 0,  25, 0, 0, 0, 0, 0,  0, 0,
    // DSLBIS: read bandwidth (4), base 1000 (0x3e8) MB/s, entry 16.
    1, 0, 24, 0,  0, 0, 4, 0,  0xe8, 0x03, 0, 0, 0, 0, 0, 0,  16, 0, 0, 0, 0, 0,  0, 0,
    // DSLBIS: write bandwidth (5), base 1000 MB/s, entry 16.
    1, 0, 24, 0,  0, 0, 5, 0,  0xe8, 0x03, 0, 0, 0, 0, 0, 0,  16, 0, 0, 0, 0, 0,  0, 0,
    // DSEMTS: type 4, length 24, handle 0, EFI type 1 (SP), DPA offset 0, length 256 MiB.
    4, 0, 24, 0,  0, 1, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0x10, 0, 0, 0, 0,
];

/// Recomputes the checksum byte of a hand-modified table.
fn fix_checksum(bytes: &mut [u8]) {
    bytes[HDR_CHECKSUM] = 0;
    bytes[HDR_CHECKSUM] = 0u8.wrapping_sub(byte_sum(bytes));
}

/// A 16-byte header followed by `body`, with length and checksum set.
fn table_with_body(body: &[u8]) -> Vec<u8> {
    let mut bytes = CdatHeader {
        length: (CDAT_HEADER_LEN + body.len()) as u32,
        revision: 1,
        checksum: 0,
        sequence: 0,
    }
    .encode()
    .to_vec();
    bytes.extend_from_slice(body);
    fix_checksum(&mut bytes);
    bytes
}

#[test]
fn parses_the_hand_written_qemu_table() {
    let table = CdatTable::parse(&QEMU_TYPE3_BYTES).unwrap();
    assert_eq!(
        table.header,
        CdatHeader {
            length: 160,
            revision: 2,
            checksum: 0x0d,
            sequence: 0
        }
    );
    assert_eq!(table.structures.len(), 6);
    assert_eq!(
        table.structures[0],
        CdatStructure::Dsmas(Dsmas {
            dsmad_handle: 0,
            flags: 0,
            dpa_base: 0,
            dpa_length: 256 << 20
        })
    );
    assert_eq!(
        table.structures[3],
        CdatStructure::Dslbis(Dslbis {
            handle: 0,
            flags: DSLBIS_FLAGS_MEMORY,
            data_type: HMAT_READ_BANDWIDTH,
            entry_base_unit: 1000,
            entries: [16, 0, 0]
        })
    );
    assert_eq!(table, example_type3_table());
}

#[test]
fn example_encodes_to_the_hand_written_bytes() {
    assert_eq!(example_type3_table().encode(), QEMU_TYPE3_BYTES.to_vec());
}

#[test]
fn round_trip_of_one_of_each_structure() {
    let table = CdatTable::new(
        1,
        0xdead_beef,
        vec![
            CdatStructure::Dsis(Dsis {
                flags: DSIS_FLAG_MEMORY_ATTACHED,
                handle: 3,
            }),
            CdatStructure::Dsmscis(Dsmscis {
                dsmas_handle: 0,
                memory_side_cache_size: 1 << 30,
                cache_attributes: 0x1234_5678,
            }),
            CdatStructure::Sslbis(Sslbis {
                data_type: HMAT_ACCESS_BANDWIDTH,
                entry_base_unit: 1000,
                entries: vec![SslbisEntry {
                    port_x_id: SSLBIS_PORT_ID_USP,
                    port_y_id: 2,
                    latency_or_bandwidth: 64,
                }],
            }),
            CdatStructure::Unknown {
                structure_type: 0x80,
                bytes: vec![1, 2, 3, 4, 5, 6],
            },
        ],
    )
    .unwrap();
    let bytes = table.encode();
    assert_eq!(bytes.len(), 16 + 8 + 20 + 24 + 10);
    assert_eq!(table.header.length as usize, bytes.len());
    assert_eq!(CdatTable::parse(&bytes).unwrap(), table);
}

#[test]
fn empty_table_is_just_a_header() {
    let table = CdatTable::new(CDAT_REVISION, 7, Vec::new()).unwrap();
    let bytes = table.encode();
    assert_eq!(bytes.len(), 16);
    assert_eq!(byte_sum(&bytes), 0);
    assert_eq!(CdatTable::parse(&bytes).unwrap(), table);
    assert_eq!(table.to_entries(), vec![bytes]);
}

#[test]
fn encode_recomputes_length_and_checksum() {
    let mut table = example_type3_table();
    table.header.length = 12345;
    table.header.checksum = 0x77;
    assert_eq!(table.encode(), QEMU_TYPE3_BYTES.to_vec());
}

#[test]
fn unknown_structure_types_are_preserved() {
    let body = [
        0x99, 0xaa, 12, 0, 1, 2, 3, 4, 5, 6, 7, 8, // type 0x99, reserved 0xaa, length 12
        3, 0, 8, 0, 0, 5, 0, 0, // DSIS
    ];
    let bytes = table_with_body(&body);
    let table = CdatTable::parse(&bytes).unwrap();
    assert_eq!(
        table.structures,
        vec![
            CdatStructure::Unknown {
                structure_type: 0x99,
                bytes: vec![1, 2, 3, 4, 5, 6, 7, 8]
            },
            CdatStructure::Dsis(Dsis {
                flags: 0,
                handle: 5
            }),
        ]
    );
    // Re-encoding keeps the unknown structure; only its reserved byte is zeroed.
    let again = CdatTable::parse(&table.encode()).unwrap();
    assert_eq!(again.structures, table.structures);
}

#[test]
fn rejects_fewer_bytes_than_the_header() {
    assert_eq!(
        CdatTable::parse(&QEMU_TYPE3_BYTES[..10]),
        Err(CdatError::Truncated {
            needed: 16,
            got: 10
        })
    );
    assert_eq!(
        CdatTable::parse(&[]),
        Err(CdatError::Truncated { needed: 16, got: 0 })
    );
}

#[test]
fn rejects_a_truncated_table() {
    assert_eq!(
        CdatTable::parse(&QEMU_TYPE3_BYTES[..100]),
        Err(CdatError::Truncated {
            needed: 160,
            got: 100
        })
    );
}

#[test]
fn rejects_bytes_past_the_declared_length() {
    let mut long = QEMU_TYPE3_BYTES.to_vec();
    long.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(
        CdatTable::parse(&long),
        Err(CdatError::TrailingBytes {
            declared: 160,
            actual: 164
        })
    );
}

#[test]
fn rejects_a_length_field_below_the_header() {
    let mut bytes = QEMU_TYPE3_BYTES.to_vec();
    bytes[0] = 15;
    assert_eq!(CdatTable::parse(&bytes), Err(CdatError::LengthTooSmall(15)));
    bytes[..4].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(CdatTable::parse(&bytes), Err(CdatError::LengthTooSmall(0)));
}

#[test]
fn rejects_a_bad_checksum_and_names_the_right_byte() {
    let mut bytes = QEMU_TYPE3_BYTES.to_vec();
    bytes[HDR_CHECKSUM] = 0x0e;
    assert_eq!(
        CdatTable::parse(&bytes),
        Err(CdatError::BadChecksum {
            expected: 0x0d,
            actual: 0x0e
        })
    );
    // A flipped payload byte (the DSMAS length) is caught by the checksum.
    let mut bytes = QEMU_TYPE3_BYTES.to_vec();
    bytes[16 + 19] = 0x20;
    assert_eq!(
        CdatTable::parse(&bytes),
        Err(CdatError::BadChecksum {
            expected: 0x0du8.wrapping_sub(0x10),
            actual: 0x0d
        })
    );
}

#[test]
fn rejects_a_zero_length_structure() {
    let bytes = table_with_body(&[TYPE_DSMAS, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        CdatTable::parse(&bytes),
        Err(CdatError::ZeroLengthStructure {
            offset: 16,
            structure_type: TYPE_DSMAS
        })
    );
}

#[test]
fn rejects_a_length_below_the_structure_header() {
    let bytes = table_with_body(&[0x20, 0, 2, 0]);
    assert_eq!(
        CdatTable::parse(&bytes),
        Err(CdatError::StructureTooShort {
            offset: 16,
            structure_type: 0x20,
            length: 2,
            minimum: 4
        })
    );
}

#[test]
fn rejects_a_structure_running_past_the_end() {
    // The last structure (DSEMTS, at offset 136) claims 32 bytes of the 24 left.
    let mut bytes = QEMU_TYPE3_BYTES.to_vec();
    bytes[136 + 2] = 32;
    fix_checksum(&mut bytes);
    assert_eq!(
        CdatTable::parse(&bytes),
        Err(CdatError::StructureOverrun {
            offset: 136,
            length: 32,
            remaining: 24
        })
    );
}

#[test]
fn rejects_a_partial_structure_header() {
    let bytes = table_with_body(&[3, 0, 8, 0, 0, 0, 0, 0, 0xff, 0]);
    assert_eq!(
        CdatTable::parse(&bytes),
        Err(CdatError::StructureHeaderTruncated {
            offset: 24,
            remaining: 2
        })
    );
}

#[test]
fn rejects_a_structure_too_small_for_its_type() {
    // A DSMAS of 16 bytes followed by 8 more bytes: well-formed lengths, wrong size.
    let mut body = vec![TYPE_DSMAS, 0, 16, 0];
    body.resize(16, 0);
    body.extend_from_slice(&[3, 0, 8, 0, 0, 0, 0, 0]);
    assert_eq!(
        CdatTable::parse(&table_with_body(&body)),
        Err(CdatError::StructureTooShort {
            offset: 16,
            structure_type: TYPE_DSMAS,
            length: 16,
            minimum: 24
        })
    );
}

#[test]
fn rejects_a_fixed_structure_longer_than_its_type() {
    let mut body = vec![TYPE_DSLBIS, 0, 28, 0];
    body.resize(28, 0);
    assert_eq!(
        CdatTable::parse(&table_with_body(&body)),
        Err(CdatError::StructureTooLong {
            offset: 16,
            structure_type: TYPE_DSLBIS,
            length: 28,
            expected: 24
        })
    );
}

#[test]
fn structure_errors_are_reported_before_the_checksum() {
    let mut bytes = table_with_body(&[TYPE_DSIS, 0, 0, 0]);
    bytes[HDR_CHECKSUM] ^= 0xff;
    assert!(matches!(
        CdatTable::parse(&bytes),
        Err(CdatError::ZeroLengthStructure { .. })
    ));
}

#[test]
fn header_decode_reads_only_the_first_16_bytes() {
    let header = CdatHeader::decode(&QEMU_TYPE3_BYTES).unwrap();
    assert_eq!(header.length, 160);
    assert_eq!(header.encode(), QEMU_TYPE3_BYTES[..16]);
    assert_eq!(
        CdatHeader::decode(&QEMU_TYPE3_BYTES[..4]),
        Err(CdatError::Truncated { needed: 16, got: 4 })
    );
}

#[test]
fn serializes_to_json() {
    let json = serde_json::to_value(example_type3_table()).unwrap();
    assert_eq!(json["header"]["length"], 160);
    assert_eq!(json["structures"][0]["type"], "DSMAS");
    assert_eq!(json["structures"][0]["dpa_length"], 256u64 << 20);
    assert_eq!(json["structures"][1]["type"], "DSLBIS");
    assert_eq!(json["structures"][5]["type"], "DSEMTS");
}
