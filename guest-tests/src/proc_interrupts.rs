//! Lines of `/proc/interrupts`: the numbered ones (one per interrupt, with its chip and
//! actions) and the named per-CPU counters of the architecture (`SPU:`, `ERR:`, ...).
//! Guest tools read them and scenario checks parse what the guests printed.

/// One numbered line of `/proc/interrupts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterruptLine {
    /// The interrupt number (`24`).
    pub irq: String,
    /// Its count summed over every CPU.
    pub count: u64,
    /// The chip, the hardware interrupt and its handler (`IO-APIC 16-fasteoi`).
    pub chip: String,
    /// The action names (`uio_pci_generic`).
    pub actions: String,
}

/// The per-CPU counts after `rest` (the text after the colon), summed, and the words after
/// them; `None` without any count.
fn counts(rest: &str) -> Option<(u64, std::iter::Peekable<std::str::SplitWhitespace<'_>>)> {
    let mut words = rest.split_whitespace().peekable();
    let mut count = 0u64;
    let mut cpus = 0;
    while let Some(n) = words.peek().and_then(|w| w.parse::<u64>().ok()) {
        count = count.saturating_add(n);
        cpus += 1;
        words.next();
    }
    (cpus > 0).then_some((count, words))
}

/// Parses a numbered line of `/proc/interrupts` (` 24:  5  IO-APIC  16-fasteoi  name`):
/// the per-CPU counts are the numbers after the colon, then come the chip and hardware
/// interrupt (two words) and the action names.
pub fn parse_interrupt_line(line: &str) -> Option<InterruptLine> {
    let (irq, rest) = line.trim().split_once(':')?;
    if irq.is_empty() || !irq.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (count, mut words) = counts(rest)?;
    let chip: Vec<&str> = words.by_ref().take(2).collect();
    Some(InterruptLine {
        irq: irq.to_owned(),
        count,
        chip: chip.join(" "),
        actions: words.collect::<Vec<_>>().join(" "),
    })
}

/// The count of the named counter `name` (e.g. `SPU`) in `line`
/// (`SPU:   3   1   Spurious interrupts`), summed over every CPU; `None` if `line` is
/// another row.
pub fn parse_counter(line: &str, name: &str) -> Option<u64> {
    let (label, rest) = line.trim().split_once(':')?;
    if label != name {
        return None;
    }
    counts(rest).map(|(count, _)| count)
}

/// The count of the named counter `name` in the whole text of `/proc/interrupts`.
pub fn counter_in(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| parse_counter(l, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupt_lines_are_parsed() {
        let line = parse_interrupt_line(" 25:          5   IO-APIC  17-fasteoi   uio_pci_generic")
            .unwrap();
        assert_eq!(line.irq, "25");
        assert_eq!(line.count, 5);
        assert_eq!(line.chip, "IO-APIC 17-fasteoi");
        assert_eq!(line.actions, "uio_pci_generic");
        let two_cpus = parse_interrupt_line("  11:   2   4  IO-APIC 11-fasteoi uio_pci_generic, x");
        assert_eq!(two_cpus.unwrap().count, 6);
        assert_eq!(parse_interrupt_line("           CPU0"), None);
        let nmi = parse_interrupt_line("NMI:          0   Non-maskable interrupts");
        assert_eq!(nmi, None);
    }

    #[test]
    fn named_counters_are_parsed() {
        assert_eq!(
            parse_counter("SPU:          3   Spurious interrupts", "SPU"),
            Some(3)
        );
        assert_eq!(
            parse_counter(" SPU:   3   4   Spurious interrupts", "SPU"),
            Some(7)
        );
        assert_eq!(parse_counter("ERR:          0", "ERR"), Some(0));
        assert_eq!(parse_counter("ERR:          0", "SPU"), None);
        assert_eq!(parse_counter("SPU:   Spurious interrupts", "SPU"), None);
        assert_eq!(
            parse_counter(" 24:   186   IO-APIC   4-edge   ttyS0", "24"),
            Some(186)
        );
        let text = "           CPU0\n 24:   186   IO-APIC   4-edge   ttyS0\nNMI:   0   Non-maskable interrupts\nSPU:   5   Spurious interrupts\n";
        assert_eq!(counter_in(text, "SPU"), Some(5));
        assert_eq!(counter_in(text, "MIS"), None);
    }
}
