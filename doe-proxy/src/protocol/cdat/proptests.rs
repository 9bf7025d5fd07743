//! Property tests: parsing never panics, and generated tables round-trip.

use proptest::collection::vec;
use proptest::prelude::*;

use super::structures::*;
use super::*;
use crate::protocol::table_access::{respond, TableAccessRequest, TableAccessResponse};

fn arb_structure() -> impl Strategy<Value = CdatStructure> {
    prop_oneof![
        (any::<u8>(), any::<u8>(), any::<u64>(), any::<u64>()).prop_map(|(h, f, b, l)| {
            CdatStructure::Dsmas(Dsmas {
                dsmad_handle: h,
                flags: f,
                dpa_base: b,
                dpa_length: l,
            })
        }),
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u64>(),
            any::<[u16; 3]>()
        )
            .prop_map(|(h, f, t, u, e)| CdatStructure::Dslbis(Dslbis {
                handle: h,
                flags: f,
                data_type: t,
                entry_base_unit: u,
                entries: e,
            })),
        (any::<u8>(), any::<u64>(), any::<u32>()).prop_map(|(h, s, a)| {
            CdatStructure::Dsmscis(Dsmscis {
                dsmas_handle: h,
                memory_side_cache_size: s,
                cache_attributes: a,
            })
        }),
        (any::<u8>(), any::<u8>()).prop_map(|(f, h)| CdatStructure::Dsis(Dsis {
            flags: f,
            handle: h
        })),
        (any::<u8>(), any::<u8>(), any::<u64>(), any::<u64>()).prop_map(|(h, t, o, l)| {
            CdatStructure::Dsemts(Dsemts {
                dsmas_handle: h,
                efi_memory_type_attr: t,
                dpa_offset: o,
                dpa_length: l,
            })
        }),
        (
            any::<u8>(),
            any::<u64>(),
            vec((any::<u16>(), any::<u16>(), any::<u16>()), 0..6)
        )
            .prop_map(|(t, u, e)| CdatStructure::Sslbis(Sslbis {
                data_type: t,
                entry_base_unit: u,
                entries: e
                    .into_iter()
                    .map(|(x, y, v)| SslbisEntry {
                        port_x_id: x,
                        port_y_id: y,
                        latency_or_bandwidth: v,
                    })
                    .collect(),
            })),
        (6u8..=255, vec(any::<u8>(), 0..40)).prop_map(|(t, b)| CdatStructure::Unknown {
            structure_type: t,
            bytes: b,
        }),
    ]
}

fn arb_table() -> impl Strategy<Value = CdatTable> {
    (any::<u8>(), any::<u32>(), vec(arb_structure(), 0..12))
        .prop_map(|(r, s, st)| CdatTable::new(r, s, st).expect("small tables fit"))
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..256)) {
        let _ = CdatTable::parse(&bytes);
        let _ = CdatStructure::decode(&bytes);
        let _ = trim_entry(0, &bytes);
        let _ = trim_entry(1, &bytes);
    }

    #[test]
    fn parse_never_panics_past_the_header_checks(body in vec(any::<u8>(), 0..256)) {
        // A consistent header and checksum, so the structure walk sees random bytes.
        let mut bytes = CdatHeader {
            length: (CDAT_HEADER_LEN + body.len()) as u32,
            revision: 0,
            checksum: 0,
            sequence: 0,
        }
        .encode()
        .to_vec();
        bytes.extend_from_slice(&body);
        bytes[HDR_CHECKSUM] = 0u8.wrapping_sub(byte_sum(&bytes));
        let _ = CdatTable::parse(&bytes);
    }

    #[test]
    fn encode_parse_round_trip(table in arb_table()) {
        let bytes = table.encode();
        prop_assert_eq!(bytes.len(), table.header.length as usize);
        prop_assert_eq!(byte_sum(&bytes), 0);
        prop_assert_eq!(CdatTable::parse(&bytes), Ok(table));
    }

    #[test]
    fn entries_round_trip_through_table_access(table in arb_table()) {
        let entries = table.to_entries();
        prop_assert_eq!(entries.len(), 1 + table.structures.len());
        prop_assert_eq!(CdatTable::from_entries(&entries), Ok(table.clone()));

        // Through encoded DOE responses, whose entries arrive dword-padded.
        let padded: Vec<Vec<u8>> = (0..entries.len() as u16)
            .map(|h| {
                let rsp = respond(&entries, &TableAccessRequest::cdat(h)).unwrap();
                TableAccessResponse::decode(&rsp.encode().unwrap()).unwrap().entry
            })
            .collect();
        for (raw, exact) in padded.iter().zip(&entries) {
            prop_assert_eq!(raw.len(), exact.len().div_ceil(4) * 4);
        }
        prop_assert_eq!(CdatTable::from_entries(&padded), Ok(table));
    }

    #[test]
    fn any_single_byte_corruption_is_rejected(
        table in arb_table(),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        // Changing one byte changes the sum, so either a structural check or the
        // checksum must fire; it never parses.
        let mut bytes = table.encode();
        let i = index.index(bytes.len());
        bytes[i] ^= flip;
        prop_assert!(CdatTable::parse(&bytes).is_err());
    }
}
