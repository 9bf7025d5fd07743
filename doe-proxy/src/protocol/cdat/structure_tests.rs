//! Tests of the single-structure codecs.

use super::structures::*;
use super::{le_u16, CdatError};

fn one_of_each() -> Vec<CdatStructure> {
    vec![
        CdatStructure::Dsmas(Dsmas {
            dsmad_handle: 1,
            flags: DSMAS_FLAG_NON_VOLATILE | DSMAS_FLAG_SHAREABLE,
            dpa_base: 0x1_0000_0000,
            dpa_length: 0x4000_0000,
        }),
        CdatStructure::Dslbis(Dslbis {
            handle: 1,
            flags: DSLBIS_FLAGS_MEMORY,
            data_type: HMAT_ACCESS_BANDWIDTH,
            entry_base_unit: 1000,
            entries: [1, 2, 3],
        }),
        CdatStructure::Dsmscis(Dsmscis {
            dsmas_handle: 1,
            memory_side_cache_size: 64 << 20,
            cache_attributes: 0x0102_0304,
        }),
        CdatStructure::Dsis(Dsis {
            flags: DSIS_FLAG_MEMORY_ATTACHED,
            handle: 7,
        }),
        CdatStructure::Dsemts(Dsemts {
            dsmas_handle: 1,
            efi_memory_type_attr: DSEMTS_EFI_RESERVED,
            dpa_offset: 0x1000,
            dpa_length: 0x2000,
        }),
        CdatStructure::Sslbis(Sslbis {
            data_type: HMAT_ACCESS_LATENCY,
            entry_base_unit: 10_000,
            entries: vec![
                SslbisEntry {
                    port_x_id: SSLBIS_PORT_ID_USP,
                    port_y_id: 0,
                    latency_or_bandwidth: 5,
                },
                SslbisEntry {
                    port_x_id: SSLBIS_PORT_ID_ANY,
                    port_y_id: 1,
                    latency_or_bandwidth: 6,
                },
            ],
        }),
        CdatStructure::Unknown {
            structure_type: 0x42,
            bytes: vec![9, 8, 7],
        },
    ]
}

#[test]
fn sizes_match_the_spec_tables() {
    let lens: Vec<usize> = one_of_each()
        .iter()
        .map(|s| s.encode().unwrap().len())
        .collect();
    assert_eq!(lens, vec![24, 24, 20, 8, 24, 16 + 2 * 8, 4 + 3]);
    for s in one_of_each() {
        assert_eq!(s.encode().unwrap().len(), s.encoded_len());
    }
}

#[test]
fn each_structure_round_trips() {
    for s in one_of_each() {
        let bytes = s.encode().unwrap();
        assert_eq!(bytes[0], s.structure_type());
        assert_eq!(usize::from(le_u16(&bytes, 2)), bytes.len());
        assert_eq!(CdatStructure::decode(&bytes).unwrap(), s);
    }
}

#[test]
fn dslbis_field_offsets() {
    let bytes = CdatStructure::Dslbis(Dslbis {
        handle: 0x11,
        flags: 0x22,
        data_type: 0x33,
        entry_base_unit: 0x0807_0605_0403_0201,
        entries: [0xa1a2, 0xb1b2, 0xc1c2],
    })
    .encode()
    .unwrap();
    assert_eq!(
        bytes,
        vec![
            1, 0, 24, 0, 0x11, 0x22, 0x33, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0xa2, 0xa1, 0xb2, 0xb1, 0xc2,
            0xc1, 0, 0
        ]
    );
}

#[test]
fn reserved_bytes_are_ignored_on_decode() {
    let mut bytes = CdatStructure::Dsis(Dsis {
        flags: 1,
        handle: 2,
    })
    .encode()
    .unwrap();
    bytes[1] = 0xff;
    bytes[6] = 0xee;
    bytes[7] = 0xdd;
    assert_eq!(
        CdatStructure::decode(&bytes).unwrap(),
        CdatStructure::Dsis(Dsis {
            flags: 1,
            handle: 2
        })
    );
}

#[test]
fn fixed_size_types_reject_other_lengths() {
    // A DSMAS claiming 20 bytes.
    let mut short = vec![TYPE_DSMAS, 0, 20, 0];
    short.resize(20, 0);
    assert_eq!(
        CdatStructure::decode(&short),
        Err(CdatError::StructureTooShort {
            offset: 0,
            structure_type: TYPE_DSMAS,
            length: 20,
            minimum: DSMAS_LEN
        })
    );
    // A DSIS claiming 12 bytes.
    let mut long = vec![TYPE_DSIS, 0, 12, 0];
    long.resize(12, 0);
    assert_eq!(
        CdatStructure::decode(&long),
        Err(CdatError::StructureTooLong {
            offset: 0,
            structure_type: TYPE_DSIS,
            length: 12,
            expected: DSIS_LEN
        })
    );
}

#[test]
fn sslbis_length_rules() {
    let mut short = vec![TYPE_SSLBIS, 0, 12, 0];
    short.resize(12, 0);
    assert!(matches!(
        CdatStructure::decode(&short),
        Err(CdatError::StructureTooShort { minimum: 16, .. })
    ));
    let mut partial = vec![TYPE_SSLBIS, 0, 20, 0];
    partial.resize(20, 0);
    assert_eq!(
        CdatStructure::decode(&partial),
        Err(CdatError::SslbisPartialEntry {
            offset: 0,
            length: 20
        })
    );
    let mut empty = vec![TYPE_SSLBIS, 0, 16, 0];
    empty.resize(16, 0);
    assert!(matches!(
        CdatStructure::decode(&empty),
        Ok(CdatStructure::Sslbis(Sslbis { ref entries, .. })) if entries.is_empty()
    ));
}

#[test]
fn single_structure_decode_checks_its_length() {
    assert_eq!(
        CdatStructure::decode(&[TYPE_DSIS, 0, 8, 0, 0, 0, 0, 0, 0xff]),
        Err(CdatError::TrailingBytes {
            declared: 8,
            actual: 9
        })
    );
    assert_eq!(
        CdatStructure::decode(&[TYPE_DSIS, 0, 8, 0, 0]),
        Err(CdatError::StructureOverrun {
            offset: 0,
            length: 8,
            remaining: 5
        })
    );
    assert_eq!(
        CdatStructure::decode(&[9, 0, 0, 0]),
        Err(CdatError::ZeroLengthStructure {
            offset: 0,
            structure_type: 9
        })
    );
    assert_eq!(
        CdatStructure::decode(&[9, 0]),
        Err(CdatError::StructureHeaderTruncated {
            offset: 0,
            remaining: 2
        })
    );
}

#[test]
fn unknown_type_with_empty_body() {
    let s = CdatStructure::Unknown {
        structure_type: 0xff,
        bytes: Vec::new(),
    };
    let bytes = s.encode().unwrap();
    assert_eq!(bytes, vec![0xff, 0, 4, 0]);
    assert_eq!(CdatStructure::decode(&bytes).unwrap(), s);
}

#[test]
fn over_long_structures_are_rejected_on_encode() {
    let unknown = CdatStructure::Unknown {
        structure_type: 6,
        bytes: vec![0; 65_535 - 3],
    };
    assert_eq!(
        unknown.encode(),
        Err(CdatError::EncodeStructureTooLong(65_536))
    );
    let entry = SslbisEntry {
        port_x_id: 0,
        port_y_id: 0,
        latency_or_bandwidth: 0,
    };
    let max = CdatStructure::Sslbis(Sslbis {
        data_type: 0,
        entry_base_unit: 0,
        entries: vec![entry; 8189],
    });
    assert_eq!(max.encode().unwrap().len(), 16 + 8189 * 8);
    let over = CdatStructure::Sslbis(Sslbis {
        data_type: 0,
        entry_base_unit: 0,
        entries: vec![entry; 8190],
    });
    assert_eq!(
        over.encode(),
        Err(CdatError::EncodeStructureTooLong(16 + 8190 * 8))
    );
}
