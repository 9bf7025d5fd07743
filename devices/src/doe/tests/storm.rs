//! Random register traffic, results and aborts: the model never panics, never holds
//! more than one maximum object, never shows Busy and Ready together, and after an
//! abort the next well-formed exchange succeeds.

use std::sync::Arc;

use doe_proxy::mediator::{ExchangeError, SubmissionId};
use proptest::prelude::*;

use super::harness::{cma, Harness, Mode};
use crate::doe::{AllowAll, VirtualDoeConfig};
use crate::pci::capability::CapabilityHandler;

/// A small limit so random lengths often exceed it.
const LIMIT: usize = 12;

#[derive(Debug, Clone)]
enum Op {
    Read { offset: u16, len: usize },
    Write { offset: u16, bytes: Vec<u8> },
    Dword { offset: u16, value: u32 },
    Complete { back: usize, ok: Option<Vec<u32>> },
}

fn op() -> impl Strategy<Value = Op> {
    // Mostly the registers themselves, sometimes anywhere.
    let offset = prop_oneof![4 => 0u16..0x20, 1 => any::<u16>()];
    let register = prop_oneof![Just(0x08u16), Just(0x0c), Just(0x10), Just(0x14)];
    prop_oneof![
        2 => (offset.clone(), 0usize..=4).prop_map(|(offset, len)| Op::Read { offset, len }),
        2 => (offset, prop::collection::vec(any::<u8>(), 0..=4))
            .prop_map(|(offset, bytes)| Op::Write { offset, bytes }),
        6 => (register, prop_oneof![any::<u32>(), Just(0x8000_0000), Just(1), 0u32..20])
            .prop_map(|(offset, value)| Op::Dword { offset, value }),
        1 => (0usize..3, prop::option::of(prop::collection::vec(any::<u32>(), 0..5)))
            .prop_map(|(back, ok)| Op::Complete { back, ok }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_traffic_never_breaks_the_mailbox(ops in prop::collection::vec(op(), 0..80)) {
        let mut h = Harness::with(
            Mode::Manual,
            VirtualDoeConfig {
                max_object_dwords: LIMIT,
                ..VirtualDoeConfig::default()
            },
            Arc::new(AllowAll),
        );
        for op in ops {
            match op {
                Op::Read { offset, len } => {
                    let mut data = vec![0u8; len];
                    h.doe.read(offset, &mut data);
                }
                Op::Write { offset, bytes } => h.doe.write(offset, &bytes),
                Op::Dword { offset, value } => h.write(offset, value),
                Op::Complete { back, ok } => {
                    let submitted = h.submitted();
                    let id = submitted
                        .iter()
                        .rev()
                        .nth(back)
                        .map_or(SubmissionId::new(u64::MAX), |(id, _)| *id);
                    let result = match ok {
                        Some(payload) => Ok(cma(&payload)),
                        None => Err(ExchangeError::TimedOut),
                    };
                    h.complete(id, result);
                }
            }
            let status = h.status();
            prop_assert!(!(status.busy && status.data_object_ready));
            prop_assert!(h.doe.buffered() <= LIMIT);
            for (_, request) in h.submitted() {
                prop_assert!(request.len() <= LIMIT);
            }
        }
        h.abort();
        h.exchange_ok();
    }
}
