//! The x86 MSI message the tool programs (Intel SDM vol. 3, "Message Signalled
//! Interrupts") and how Linux reports a message on a vector it does not use.

/// Message Address of an x86 MSI: `0xFEE` in bits 31:20, the destination APIC ID in bits
/// 19:12; physical destination mode and no redirection hint (bits 3:2 zero).
const MSI_ADDRESS_BASE: u32 = 0xfee0_0000;
/// Shift of the destination APIC ID in the address.
const MSI_ADDRESS_DEST_SHIFT: u32 = 12;
/// The largest APIC ID the 8-bit destination field can name.
const MAX_APIC_ID: u32 = 0xff;
/// What Linux logs for a message on a vector with no handler in its system range
/// (`arch/x86/kernel/apic/apic.c`, `handle_spurious_interrupt`).
const SPURIOUS_PREFIX: &str = "Spurious interrupt (vector 0x";
/// ... followed by the CPU, then `. Acked` when the vector was in service.
const SPURIOUS_CPU: &str = ") on CPU#";
/// The suffix of a record whose vector was in service in the local APIC.
const ACKED: &str = ". Acked";

/// The Message Address that sends an interrupt to the local APIC `apic_id` (physical
/// destination mode); an ID above 255 cannot be named without interrupt remapping.
pub fn address(apic_id: u32) -> Result<u32, String> {
    if apic_id > MAX_APIC_ID {
        return Err(format!(
            "APIC ID {apic_id} does not fit the 8-bit MSI destination"
        ));
    }
    Ok(MSI_ADDRESS_BASE | (apic_id << MSI_ADDRESS_DEST_SHIFT))
}

/// The Message Data of an edge-triggered interrupt with fixed delivery on `vector`: the
/// vector in bits 7:0, every other bit zero.
pub fn data(vector: u8) -> u16 {
    u16::from(vector)
}

/// The APIC ID of logical CPU `cpu` in the text of `/proc/cpuinfo` (its `apicid` line).
pub fn apic_id(cpuinfo: &str, cpu: u32) -> Option<u32> {
    let mut current = None;
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "processor" => current = value.trim().parse::<u32>().ok(),
            "apicid" if current == Some(cpu) => return value.trim().parse().ok(),
            _ => {}
        }
    }
    None
}

/// A kernel record of an interrupt on an unused vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpuriousRecord {
    /// The vector.
    pub vector: u8,
    /// The logical CPU that took it.
    pub cpu: u32,
    /// Whether the vector was in service in the local APIC (and was acknowledged).
    pub acked: bool,
}

/// Parses `Spurious interrupt (vector 0xf5) on CPU#0. Acked` (or `... Not pending!`).
pub fn parse_spurious(record: &str) -> Option<SpuriousRecord> {
    let rest = record.trim().strip_prefix(SPURIOUS_PREFIX)?;
    let (vector, rest) = rest.split_once(SPURIOUS_CPU)?;
    let vector = u8::from_str_radix(vector, 16).ok()?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let cpu = rest[..digits].parse().ok()?;
    Some(SpuriousRecord {
        vector,
        cpu,
        acked: &rest[digits..] == ACKED,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_addresses_a_local_apic() {
        assert_eq!(address(0), Ok(0xfee0_0000));
        assert_eq!(address(3), Ok(0xfee0_3000));
        assert_eq!(address(255), Ok(0xfeef_f000));
        assert!(address(256).unwrap_err().contains("APIC ID 256"));
        assert_eq!(data(0xf5), 0x00f5);
    }

    #[test]
    fn apic_ids_are_read_from_cpuinfo() {
        let text = "processor\t: 0\nvendor_id\t: AuthenticAMD\napicid\t\t: 0\n\n\
                    processor\t: 1\napicid\t\t: 2\ninitial apicid\t: 2\n";
        assert_eq!(apic_id(text, 0), Some(0));
        assert_eq!(apic_id(text, 1), Some(2));
        assert_eq!(apic_id(text, 2), None);
        assert_eq!(apic_id("processor : 0\nflags : fpu\n", 0), None);
    }

    #[test]
    fn spurious_records_are_parsed() {
        let acked = parse_spurious("Spurious interrupt (vector 0xf5) on CPU#0. Acked");
        assert_eq!(
            acked,
            Some(SpuriousRecord {
                vector: 0xf5,
                cpu: 0,
                acked: true
            })
        );
        let pending = parse_spurious("Spurious interrupt (vector 0xee) on CPU#12. Not pending!");
        assert_eq!(
            pending,
            Some(SpuriousRecord {
                vector: 0xee,
                cpu: 12,
                acked: false
            })
        );
        let apic = "Spurious APIC interrupt (vector 0xFF) on CPU#0, should never happen.";
        assert_eq!(parse_spurious(apic), None);
        assert_eq!(
            parse_spurious("Spurious interrupt (vector 0xzz) on CPU#0. Acked"),
            None
        );
        assert_eq!(parse_spurious("random line"), None);
    }
}
