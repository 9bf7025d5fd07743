//! Resident memory of a process, split into guest RAM and everything else.
//!
//! Guest RAM is one large anonymous mapping of exactly the guest's memory size (our `vmm`
//! and QEMU both map it whole); with VFIO it is pinned, so it is all resident. What a VMM
//! costs beyond its guest is the rest: total `Rss` minus the `Rss` of mappings whose size
//! is the guest's memory size.

/// Resident memory of one sample, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resident {
    /// All resident memory.
    pub total_kib: u64,
    /// Resident memory in guest-RAM mappings.
    pub guest_kib: u64,
}

impl Resident {
    /// Resident memory beyond guest RAM.
    pub fn beyond_guest_kib(&self) -> u64 {
        self.total_kib.saturating_sub(self.guest_kib)
    }
}

/// Parses `/proc/<pid>/smaps`, counting as guest RAM every mapping of `guest_kib` KiB or
/// more (guest RAM may be split in two around the PCI hole, so pass the size of the
/// smallest piece expected; mappings that large are guest memory in both VMMs).
pub fn parse(smaps: &str, guest_min_kib: u64) -> Resident {
    let mut resident = Resident::default();
    let mut mapping_is_guest = false;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if let Some((start, end)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            let size_kib = match (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16)) {
                (Ok(s), Ok(e)) if e > s => (e - s) / 1024,
                _ => 0,
            };
            mapping_is_guest = size_kib >= guest_min_kib;
        } else if first == "Rss:" {
            let kib: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            resident.total_kib += kib;
            if mapping_is_guest {
                resident.guest_kib += kib;
            }
        }
    }
    resident
}

/// `VmHWM` from `/proc/<pid>/status`, in KiB.
pub fn vmhwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d000000000-55d000100000 r-xp 00000000 08:01 123 /usr/bin/vmm
Size:               1024 kB
Rss:                 800 kB
7f0000000000-7f0020000000 rw-p 00000000 00:00 0
Size:             524288 kB
Rss:              524288 kB
7f1000000000-7f1000200000 rw-p 00000000 00:00 0 [heap]
Size:               2048 kB
Rss:                1200 kB
";

    #[test]
    fn guest_ram_is_split_from_the_rest() {
        let r = parse(SMAPS, 256 * 1024);
        assert_eq!(r.total_kib, 800 + 524_288 + 1200);
        assert_eq!(r.guest_kib, 524_288);
        assert_eq!(r.beyond_guest_kib(), 2000);
    }

    #[test]
    fn vmhwm_is_read() {
        assert_eq!(vmhwm_kib("Name:\tvmm\nVmHWM:\t  12345 kB\n"), Some(12345));
        assert_eq!(vmhwm_kib("Name:\tvmm\n"), None);
    }
}
