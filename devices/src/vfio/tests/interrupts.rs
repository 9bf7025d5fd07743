//! MSI and MSI-X emulation: what the guest programs becomes interrupt updates and
//! backend calls, never device config or table writes.

use super::fixtures::*;
use crate::pci::device::PciDevice;
use crate::vfio::{InterruptUpdate, IrqKind, MockEvent, MsiMessage, VectorRoute};

const MSIX_CONTROL: u16 = CXL_MSIX + 2;
const ENABLE: u16 = 1 << 15;
const FUNCTION_MASK: u16 = 1 << 14;

fn vector(kind: IrqKind, vector: u32, address: u64, data: u32, masked: bool) -> InterruptUpdate {
    InterruptUpdate::Vector {
        kind,
        vector,
        route: VectorRoute {
            message: MsiMessage { address, data },
            masked,
        },
    }
}

fn irq_events(events: Vec<MockEvent>) -> Vec<MockEvent> {
    events
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                MockEvent::EnableIrq { .. } | MockEvent::DisableIrq { .. }
            )
        })
        .collect()
}

#[test]
fn intx_is_enabled_when_the_function_is_built() {
    let (_, mock, queue) = build(cxl_mock());
    assert_eq!(
        queue.drain(),
        vec![InterruptUpdate::Enabled {
            kind: IrqKind::Intx,
            vectors: 1
        }]
    );
    assert_eq!(
        irq_events(mock.events()),
        vec![MockEvent::EnableIrq {
            kind: IrqKind::Intx,
            vectors: 1
        }]
    );
    let (_, _, queue) = build(nvme_pf_mock());
    assert!(queue.drain().is_empty(), "no pin, no INTx");
}

#[test]
fn msix_table_writes_produce_the_right_updates() {
    let (mut f, mock, queue) = build(cxl_mock());
    queue.drain();
    mock.clear_events();
    // Linux: enable with the function masked, program entries, then unmask.
    write16(&mut f, MSIX_CONTROL, ENABLE | FUNCTION_MASK);
    let mut expected = vec![
        InterruptUpdate::Disabled {
            kind: IrqKind::Intx,
        },
        InterruptUpdate::Enabled {
            kind: IrqKind::Msix,
            vectors: CXL_MSIX_VECTORS,
        },
    ];
    expected.extend((0..CXL_MSIX_VECTORS).map(|v| vector(IrqKind::Msix, v, 0, 0, true)));
    assert_eq!(queue.drain(), expected);
    assert_eq!(
        irq_events(mock.events()),
        vec![
            MockEvent::DisableIrq {
                kind: IrqKind::Intx
            },
            MockEvent::EnableIrq {
                kind: IrqKind::Msix,
                vectors: CXL_MSIX_VECTORS
            },
        ]
    );
    assert_eq!(read16(&mut f, MSIX_CONTROL), ENABLE | FUNCTION_MASK | 5);

    // Entry 2: address, data, then unmask.
    let entry = 2 * 16;
    f.write_bar(CXL_MSIX_BAR, entry, &0xfee0_2000u32.to_le_bytes());
    f.write_bar(CXL_MSIX_BAR, entry + 4, &0u32.to_le_bytes());
    f.write_bar(CXL_MSIX_BAR, entry + 8, &0x0000_4031u32.to_le_bytes());
    f.write_bar(CXL_MSIX_BAR, entry + 12, &0u32.to_le_bytes());
    assert_eq!(
        queue.drain(),
        vec![
            vector(IrqKind::Msix, 2, 0xfee0_2000, 0, true),
            vector(IrqKind::Msix, 2, 0xfee0_2000, 0x4031, true),
        ],
        "still masked by the function mask; an unchanged route is not repeated"
    );
    write16(&mut f, MSIX_CONTROL, ENABLE);
    assert_eq!(
        queue.drain(),
        vec![vector(IrqKind::Msix, 2, 0xfee0_2000, 0x4031, false)]
    );

    // Masking one vector by its Vector Control, with a qword write.
    f.write_bar(
        CXL_MSIX_BAR,
        entry + 8,
        &0x0000_0001_0000_4031u64.to_le_bytes(),
    );
    assert_eq!(
        queue.drain(),
        vec![vector(IrqKind::Msix, 2, 0xfee0_2000, 0x4031, true)]
    );
    let mut low = [0; 8];
    let mut high = [0; 8];
    f.read_bar(CXL_MSIX_BAR, entry, &mut low);
    f.read_bar(CXL_MSIX_BAR, entry + 8, &mut high);
    assert_eq!(&low[0..4], &0xfee0_2000u32.to_le_bytes());
    assert_eq!(&high[4..8], &1u32.to_le_bytes());

    // None of it reached the device's table or its MSI-X capability.
    let events = mock.events();
    assert!(
        events.iter().all(|e| !matches!(
            e,
            MockEvent::BarWrite { .. } | MockEvent::ConfigWrite { .. }
        )),
        "{events:?}"
    );
    assert_eq!(mock.config().u16_at(MSIX_CONTROL), 5);
}

#[test]
fn disabling_msix_gives_intx_back() {
    let (mut f, mock, queue) = build(cxl_mock());
    write16(&mut f, MSIX_CONTROL, ENABLE);
    queue.drain();
    mock.clear_events();
    write16(&mut f, MSIX_CONTROL, 0);
    assert_eq!(
        queue.drain(),
        vec![
            InterruptUpdate::Disabled {
                kind: IrqKind::Msix
            },
            InterruptUpdate::Enabled {
                kind: IrqKind::Intx,
                vectors: 1
            },
        ]
    );
    assert_eq!(
        irq_events(mock.events()),
        vec![
            MockEvent::DisableIrq {
                kind: IrqKind::Msix
            },
            MockEvent::EnableIrq {
                kind: IrqKind::Intx,
                vectors: 1
            },
        ]
    );
    // Table writes while disabled only change the table.
    f.write_bar(CXL_MSIX_BAR, 0, &0xfee0_0000u32.to_le_bytes());
    assert!(queue.drain().is_empty());
}

#[test]
fn the_pba_reads_zero_and_ignores_writes() {
    let (mut f, mock, _) = build(cxl_mock());
    mock.clear_events();
    f.write_bar(CXL_MSIX_BAR, CXL_PBA, &[0xff; 8]);
    let mut data = [0xaa; 8];
    f.read_bar(CXL_MSIX_BAR, CXL_PBA, &mut data);
    assert_eq!(data, [0; 8]);
    assert!(mock.events().is_empty());
}

const MSI: u16 = 0x50;

#[test]
fn msi_enable_mask_and_resize() {
    let (mut f, mock, queue) = build(msi_mock());
    queue.drain();
    mock.clear_events();
    write32(&mut f, MSI + 4, 0xfee0_1000);
    write32(&mut f, MSI + 8, 0);
    write16(&mut f, MSI + 0x0c, 0x4020);
    assert!(queue.drain().is_empty(), "nothing while disabled");
    // Enable with 2 vectors (MME = 1).
    write16(&mut f, MSI + 2, 0x0001 | 1 << 4);
    assert_eq!(
        queue.drain(),
        vec![
            InterruptUpdate::Disabled {
                kind: IrqKind::Intx
            },
            InterruptUpdate::Enabled {
                kind: IrqKind::Msi,
                vectors: 2
            },
            vector(IrqKind::Msi, 0, 0xfee0_1000, 0x4020, false),
            vector(IrqKind::Msi, 1, 0xfee0_1000, 0x4021, false),
        ]
    );
    assert_eq!(read16(&mut f, MSI + 2), 0x0184 | 0x0001 | 1 << 4);
    // Mask vector 1.
    write32(&mut f, MSI + 0x10, 0b10);
    assert_eq!(
        queue.drain(),
        vec![vector(IrqKind::Msi, 1, 0xfee0_1000, 0x4021, true)]
    );
    // Asking for 4 vectors while enabled: disable and enable again with 4.
    write16(&mut f, MSI + 2, 0x0001 | 2 << 4);
    let updates = queue.drain();
    assert_eq!(updates[0], InterruptUpdate::Disabled { kind: IrqKind::Msi });
    assert_eq!(
        updates[1],
        InterruptUpdate::Enabled {
            kind: IrqKind::Msi,
            vectors: 4
        }
    );
    assert_eq!(updates.len(), 6);
    assert!(
        mock.events()
            .iter()
            .all(|e| !matches!(e, MockEvent::ConfigWrite { .. })),
        "MSI registers never reach the device"
    );
}

#[test]
fn msi_is_hidden_when_the_device_offers_no_vectors() {
    let (mut f, _, _) = build(msi_mock().with_irqs(IrqKind::Msi, 0));
    assert_eq!(read(&mut f, 0x34, 1), vec![0]);
    assert_eq!(read16(&mut f, 0x06) & 0x10, 0, "no capabilities left");
    assert_eq!(read32(&mut f, MSI), 0);
}
