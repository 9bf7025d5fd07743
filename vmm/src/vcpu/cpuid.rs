//! CPUID for each vCPU: KVM's supported set with the topology made consistent (one socket,
//! one thread per core, APIC ID = vCPU index) and the hypervisor bit set.
//!
//! Leaf meanings: Intel SDM Vol. 2A "CPUID"; AMD APM Vol. 3 Appendix E.

use kvm_bindings::kvm_cpuid_entry2;

/// Leaf 0 EBX of "AuthenticAMD".
const AMD_EBX: u32 = u32::from_le_bytes(*b"Auth");
/// Leaf 0 EBX of "HygonGenuine" (AMD topology leaves).
const HYGON_EBX: u32 = u32::from_le_bytes(*b"Hygo");

/// Leaf 1 ECX: TSC-deadline timer.
const L1_ECX_TSC_DEADLINE: u32 = 1 << 24;
/// Leaf 1 ECX: running under a hypervisor.
const L1_ECX_HYPERVISOR: u32 = 1 << 31;
/// Leaf 1 EDX: the logical-processor count in EBX[23:16] is valid.
const L1_EDX_HTT: u32 = 1 << 28;
/// Leaf 0xB/0x1F ECX level types.
const LEVEL_SMT: u32 = 1;
/// Core level type.
const LEVEL_CORE: u32 = 2;

/// The topology the guest sees.
#[derive(Debug, Clone, Copy)]
pub struct Topology {
    /// This vCPU's index (= its APIC ID).
    pub cpu: u8,
    /// vCPUs in the VM (cores of the one socket).
    pub count: u8,
    /// Whether KVM can emulate the TSC-deadline timer.
    pub tsc_deadline: bool,
}

/// Bits needed to number `n` items (`ceil(log2(n))`).
fn id_bits(n: u8) -> u32 {
    u32::from(n.max(1)).next_power_of_two().trailing_zeros()
}

/// Adjusts `entries` (KVM_GET_SUPPORTED_CPUID output) for vCPU `topo.cpu`.
pub fn fixup(entries: &mut [kvm_cpuid_entry2], topo: Topology) {
    let amd = entries
        .iter()
        .any(|e| e.function == 0 && (e.ebx == AMD_EBX || e.ebx == HYGON_EBX));
    let apic_id = u32::from(topo.cpu);
    let count = u32::from(topo.count);
    for e in entries.iter_mut() {
        match e.function {
            1 => {
                // EBX[31:24] initial APIC ID, [23:16] logical processors per package.
                e.ebx = (e.ebx & 0x0000_ffff) | (apic_id << 24) | (count << 16);
                e.ecx |= L1_ECX_HYPERVISOR;
                if topo.tsc_deadline {
                    e.ecx |= L1_ECX_TSC_DEADLINE;
                }
                if count > 1 {
                    e.edx |= L1_EDX_HTT;
                } else {
                    e.edx &= !L1_EDX_HTT;
                }
            }
            4 if !amd => {
                // EAX[31:26] cores per package - 1; [25:14] threads sharing this cache - 1:
                // one for L1/L2 (per core), all for the L3 and beyond.
                let level = (e.eax >> 5) & 0x7;
                let sharing = if level >= 3 { count - 1 } else { 0 };
                e.eax = (e.eax & 0x3fff) | ((count - 1) << 26) | (sharing << 14);
            }
            0xb | 0x1f => {
                e.edx = apic_id;
                let (shift, logical, kind) = match e.index {
                    0 => (0, 1, LEVEL_SMT),
                    1 => (id_bits(topo.count), count, LEVEL_CORE),
                    _ => (0, 0, 0),
                };
                e.eax = shift;
                e.ebx = logical;
                e.ecx = (kind << 8) | (e.index & 0xff);
            }
            0x8000_0008 if amd => {
                // ECX[15:12] APIC ID size, [7:0] cores per package - 1.
                e.ecx = (e.ecx & !0xf0ff) | (id_bits(topo.count) << 12) | (count - 1);
            }
            0x8000_001e if amd => {
                // Extended APIC ID, core ID, one node.
                e.eax = apic_id;
                e.ebx = (e.ebx & 0xffff_ff00) | apic_id;
                e.ecx &= !0x7ff;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(function: u32, index: u32) -> kvm_cpuid_entry2 {
        kvm_cpuid_entry2 {
            function,
            index,
            ..Default::default()
        }
    }

    fn find(e: &[kvm_cpuid_entry2], f: u32, i: u32) -> kvm_cpuid_entry2 {
        *e.iter().find(|x| x.function == f && x.index == i).unwrap()
    }

    #[test]
    fn leaf_1_carries_apic_id_count_and_hypervisor_bit() {
        let mut e = vec![
            entry(0, 0),
            kvm_cpuid_entry2 {
                function: 1,
                ebx: 0x0000_0800,
                edx: L1_EDX_HTT,
                ..Default::default()
            },
        ];
        fixup(
            &mut e,
            Topology {
                cpu: 2,
                count: 4,
                tsc_deadline: true,
            },
        );
        let l1 = find(&e, 1, 0);
        assert_eq!(l1.ebx, 0x0204_0800);
        assert_ne!(l1.ecx & L1_ECX_HYPERVISOR, 0);
        assert_ne!(l1.ecx & L1_ECX_TSC_DEADLINE, 0);
        assert_ne!(l1.edx & L1_EDX_HTT, 0);
        let mut one = vec![kvm_cpuid_entry2 {
            function: 1,
            edx: L1_EDX_HTT,
            ..Default::default()
        }];
        fixup(
            &mut one,
            Topology {
                cpu: 0,
                count: 1,
                tsc_deadline: false,
            },
        );
        assert_eq!(one[0].edx & L1_EDX_HTT, 0);
    }

    #[test]
    fn extended_topology_levels() {
        let mut e = vec![entry(0xb, 0), entry(0xb, 1), entry(0xb, 2)];
        fixup(
            &mut e,
            Topology {
                cpu: 3,
                count: 5,
                tsc_deadline: false,
            },
        );
        let (smt, core, end) = (find(&e, 0xb, 0), find(&e, 0xb, 1), find(&e, 0xb, 2));
        assert_eq!((smt.eax, smt.ebx, smt.ecx, smt.edx), (0, 1, 0x100, 3));
        assert_eq!((core.eax, core.ebx, core.ecx, core.edx), (3, 5, 0x201, 3));
        assert_eq!((end.ebx, end.ecx >> 8), (0, 0));
    }

    #[test]
    fn amd_core_count() {
        let mut e = vec![
            kvm_cpuid_entry2 {
                function: 0,
                ebx: AMD_EBX,
                ..Default::default()
            },
            entry(0x8000_0008, 0),
            entry(0x8000_001e, 0),
        ];
        fixup(
            &mut e,
            Topology {
                cpu: 1,
                count: 2,
                tsc_deadline: false,
            },
        );
        assert_eq!(find(&e, 0x8000_0008, 0).ecx, (1 << 12) | 1);
        assert_eq!(find(&e, 0x8000_001e, 0).eax, 1);
    }

    #[test]
    fn id_bit_widths() {
        assert_eq!(
            [id_bits(1), id_bits(2), id_bits(3), id_bits(4), id_bits(5)],
            [0, 1, 2, 2, 3]
        );
    }
}
