//! A hostile guest (Must-show of issue 4): over-length headers, Go with no data, Go
//! twice, abort in the middle of a response, reading past the end, writes to read-only
//! bits, narrow and unaligned accesses. The model never panics, never buffers more than
//! one maximum object, and the next well-formed exchange succeeds.

use std::sync::Arc;

use doe_proxy::mailbox::regs::{
    DoeStatus, CTRL_INT_EN, DOE_CAP, DOE_CTRL, DOE_READ, DOE_STATUS, DOE_WRITE, STATUS_INT_STATUS,
};
use doe_proxy::protocol::MAX_OBJECT_DWORDS;

use super::harness::{cma, Harness, Mode};
use crate::doe::{AllowAll, VirtualDoeConfig};
use crate::pci::capability::CapabilityHandler;

/// A small per-mailbox limit, so over-length objects are cheap to write.
const LIMIT: usize = 16;

fn limited() -> Harness {
    Harness::with(
        Mode::Manual,
        VirtualDoeConfig {
            max_object_dwords: LIMIT,
            ..VirtualDoeConfig::default()
        },
        Arc::new(AllowAll),
    )
}

#[test]
fn an_over_length_header_is_dropped_before_anything_is_buffered() {
    let mut h = limited();
    h.write(DOE_WRITE, 0x0001_0001);
    h.write(DOE_WRITE, LIMIT as u32 + 1);
    for dword in 0..10 * LIMIT as u32 {
        h.write(DOE_WRITE, dword);
        assert_eq!(h.doe.buffered(), 0);
    }
    h.go();
    assert_eq!(h.status(), DoeStatus::default());
    assert!(h.submitted().is_empty());
    h.exchange_ok();
}

#[test]
fn a_length_of_zero_means_the_doe_maximum() {
    // 0 announces 2^18 dwords: over a small limit it is dropped at once; under the
    // default limit the buffer is bounded by that one maximum object.
    let mut h = limited();
    h.send(&[0x0001_0001, 0, 1, 2]);
    assert_eq!(h.doe.buffered(), 0);
    assert!(h.submitted().is_empty());
    let mut h = Harness::new(Mode::Manual);
    h.write(DOE_WRITE, 0x0001_0001);
    h.write(DOE_WRITE, 0);
    assert!(h.doe.buffered() <= MAX_OBJECT_DWORDS);
    h.go();
    assert!(
        h.submitted().is_empty(),
        "an incomplete object is discarded"
    );
    assert_eq!(h.doe.buffered(), 0);
    h.exchange_ok();
}

#[test]
fn more_dwords_than_announced_or_a_length_of_one_are_discarded() {
    let mut h = limited();
    h.send(&[0x0001_0001, 3, 7, 8]);
    h.send(&[0x0001_0001, 1, 7]);
    h.send(&[0x0001_0001, 4, 7]);
    assert_eq!(h.status(), DoeStatus::default());
    assert!(h.submitted().is_empty());
    h.exchange_ok();
}

#[test]
fn go_with_no_data_does_nothing() {
    let mut h = limited();
    h.go();
    assert_eq!(h.status(), DoeStatus::default());
    h.write(DOE_WRITE, 0x0001_0001);
    h.go();
    assert_eq!(h.status(), DoeStatus::default());
    assert!(h.submitted().is_empty());
    h.exchange_ok();
}

#[test]
fn go_twice_submits_once() {
    let mut h = limited();
    h.send(&cma(&[1]));
    assert!(h.status().busy);
    // A second object and Go while Busy: dropped and ignored.
    h.send(&cma(&[2]));
    h.go();
    assert_eq!(h.submitted().len(), 1);
    let (id, _) = h.submitted()[0].clone();
    h.complete(id, Ok(cma(&[1])));
    assert_eq!(h.drain(), cma(&[1]));
    h.go();
    assert_eq!(
        h.submitted().len(),
        1,
        "the dropped object is not sent later"
    );
    h.exchange_ok();
}

#[test]
fn abort_in_the_middle_of_a_response() {
    let mut h = limited();
    h.send(&cma(&[1]));
    let (id, _) = h.submitted()[0].clone();
    h.complete(id, Ok(cma(&[1, 2, 3, 4])));
    assert_eq!(h.read(DOE_READ), cma(&[])[0]);
    h.write(DOE_READ, 0);
    h.write(DOE_READ, 0);
    h.abort();
    assert_eq!(h.status(), DoeStatus::default());
    assert_eq!(h.read(DOE_READ), 0);
    h.exchange_ok();
}

#[test]
fn abort_while_busy_cancels_only_this_exchange() {
    let mut h = limited();
    h.send(&cma(&[1]));
    let (id, _) = h.submitted()[0].clone();
    h.abort();
    assert_eq!(h.cancelled(), vec![id]);
    assert_eq!(h.status(), DoeStatus::default());
    // The device's late answer is dropped.
    h.complete(id, Ok(cma(&[1])));
    assert_eq!(h.status(), DoeStatus::default());
    h.exchange_ok();
}

#[test]
fn reading_past_the_end_sets_error() {
    let mut h = limited();
    h.send(&cma(&[1]));
    let (id, _) = h.submitted()[0].clone();
    h.complete(id, Ok(cma(&[1])));
    assert_eq!(h.drain(), cma(&[1]));
    // A read has no side effect; the pop past the end is the underflow.
    assert_eq!(h.read(DOE_READ), 0);
    assert_eq!(h.status(), DoeStatus::default());
    h.write(DOE_READ, 0);
    assert!(h.status().error);
    assert_eq!(h.read(DOE_READ), 0);
    // Popping with nothing ever published, too.
    h.abort();
    h.write(DOE_READ, 0xdead_beef);
    assert!(h.status().error);
    h.abort();
    h.exchange_ok();
}

#[test]
fn read_only_registers_and_bits_stay_put() {
    let mut h = limited();
    h.write(DOE_CAP, u32::MAX);
    h.write(DOE_STATUS, u32::MAX);
    h.write(DOE_CTRL, CTRL_INT_EN);
    for offset in [0x00, 0x18, 0x1c, 0xffc] {
        h.write(offset, u32::MAX);
    }
    assert_eq!(h.read(DOE_CAP), 0);
    assert_eq!(h.read(DOE_CTRL), 0, "Interrupt Enable is read-only 0");
    assert_eq!(h.status(), DoeStatus::default());
    h.send(&cma(&[1]));
    // Status writes cannot clear Busy or set anything (Interrupt Status is never set).
    h.write(DOE_STATUS, STATUS_INT_STATUS);
    h.write(DOE_STATUS, 0);
    assert!(h.status().busy);
    assert_eq!(h.read(DOE_CTRL), 0, "Go reads 0");
    let (id, _) = h.submitted()[0].clone();
    h.complete(id, Ok(cma(&[1])));
    assert_eq!(h.drain(), cma(&[1]));
    h.exchange_ok();
}

#[test]
fn byte_and_word_accesses() {
    let mut h = limited();
    h.send(&cma(&[1]));
    let (id, _) = h.submitted()[0].clone();
    h.complete(id, Ok(cma(&[0x1122_3344])));
    // Narrow reads see the bytes of the registers and do not pop.
    let status = h.read(DOE_STATUS);
    let mut bytes = [0u8; 4];
    for (i, byte) in bytes.iter_mut().enumerate() {
        h.doe
            .read(DOE_STATUS + i as u16, std::slice::from_mut(byte));
    }
    assert_eq!(u32::from_le_bytes(bytes), status);
    let mut word = [0u8; 2];
    h.doe.read(DOE_READ + 2, &mut word);
    assert_eq!(u16::from_le_bytes(word), (cma(&[])[0] >> 16) as u16);
    // A narrow write to a mailbox data register is no dword: nothing happens.
    h.doe.write(DOE_READ, &[0]);
    h.doe.write(DOE_READ + 2, &[0, 0]);
    assert_eq!(h.drain(), cma(&[0x1122_3344]));
    h.doe.write(DOE_WRITE, &[1, 0]);
    h.doe.write(DOE_WRITE + 3, &[1]);
    h.go();
    assert!(h.submitted().len() == 1 && h.status() == DoeStatus::default());
    // Go and Abort by byte act as the dword writes would.
    for &dword in &cma(&[2]) {
        h.write(DOE_WRITE, dword);
    }
    h.doe.write(DOE_CTRL + 3, &[0x80]);
    assert!(h.status().busy);
    h.doe.write(DOE_CTRL, &[0x01]);
    assert_eq!(h.status(), DoeStatus::default());
    assert_eq!(h.cancelled().len(), 1);
    h.exchange_ok();
}

#[test]
fn unaligned_and_odd_accesses_never_panic() {
    let mut h = limited();
    h.send(&cma(&[1]));
    for offset in [
        0u16,
        1,
        3,
        5,
        0x0b,
        0x0e,
        0x0f,
        0x13,
        0x15,
        0x17,
        0x18,
        0xfff,
        u16::MAX,
    ] {
        for len in 0..=8 {
            let mut data = vec![0xa5u8; len];
            h.doe.read(offset, &mut data);
            h.doe.write(offset, &data);
        }
    }
    // Whatever that did, an abort brings the mailbox back.
    h.abort();
    assert_eq!(h.status(), DoeStatus::default());
    h.exchange_ok();
}
