//! What a process's threads are doing, from `/proc` (for the post-mortem of a VMM that
//! vmm-probe kills at its timeout): per thread its name, state, the kernel function it
//! sleeps in, the system call it is in and, where the kernel shows it, its kernel stack.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

/// One line per thread of `pid` (and its kernel stack, indented, when readable), or why
/// the threads could not be listed.
pub fn describe(pid: u32) -> String {
    let tasks = Path::new("/proc").join(pid.to_string()).join("task");
    let mut tids: Vec<u32> = match fs::read_dir(&tasks) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(e) => return format!("vmm-probe: cannot list the threads of {pid}: {e}\n"),
    };
    tids.sort_unstable();
    let mut out = format!("vmm-probe: threads of {pid} at the timeout:\n");
    for tid in tids {
        let dir = tasks.join(tid.to_string());
        let read = |name: &str| {
            fs::read_to_string(dir.join(name))
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "?".to_owned())
        };
        let _ = writeln!(
            out,
            "  {tid} {}: state {}, wchan {}, syscall {}",
            read("comm"),
            state(&read("stat")),
            read("wchan"),
            read("syscall"),
        );
        if let Ok(stack) = fs::read_to_string(dir.join("stack")) {
            for frame in stack.lines() {
                let _ = writeln!(out, "      {frame}");
            }
        }
    }
    out
}

/// The state letter of a `/proc/<pid>/task/<tid>/stat` line (after the `(comm)` field,
/// which may hold spaces and parentheses).
fn state(stat: &str) -> &str {
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_follows_the_last_parenthesis() {
        assert_eq!(state("42 (vcpu0) S 1 2 3"), "S");
        assert_eq!(state("42 (a) b) (c) R 1"), "R");
        assert_eq!(state("garbage"), "?");
    }

    #[test]
    fn our_own_threads_are_listed() {
        let text = describe(std::process::id());
        assert!(text.starts_with("vmm-probe: threads of"), "{text}");
        assert!(text.lines().count() >= 2, "{text}");
        assert!(describe(u32::MAX).contains("cannot list"));
    }
}
