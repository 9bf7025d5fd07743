//! Whether the process that registered a mailbox still runs: `/proc/<pid>` exists and, when
//! the registration recorded it, the process started at the same time (so a pid reused by
//! another process after the owner died is not taken for the owner).

use std::path::Path;

/// Field 22 of `/proc/<pid>/stat` (proc(5)): the process's start time, in clock ticks since
/// boot. Counted from field 3, the first after the command in parentheses.
const STARTTIME_AFTER_COMM: usize = 22 - 3;

/// The start time of process `pid` as `/proc/<pid>/stat` gives it, if readable.
pub fn start_time(proc_root: &Path, pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    // The command may hold spaces and parentheses: the fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace()
        .nth(STARTTIME_AFTER_COMM)?
        .parse()
        .ok()
}

/// Whether process `pid` runs and, if `started` is given, is the one that started then.
pub fn is_alive(proc_root: &Path, pid: u32, started: Option<u64>) -> bool {
    if pid == 0 || !proc_root.join(pid.to_string()).exists() {
        return false;
    }
    match (started, start_time(proc_root, pid)) {
        (Some(recorded), Some(now)) => recorded == now,
        // Nothing recorded, or the stat unreadable: the pid is all there is to go by.
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ownership::test_tree::FakeHost;

    #[test]
    fn a_process_is_alive_while_its_proc_directory_exists() {
        let host = FakeHost::new();
        host.process(4242, 777);
        let proc_root = host.paths().proc;
        assert!(is_alive(&proc_root, 4242, None));
        assert!(is_alive(&proc_root, 4242, Some(777)));
        assert!(!is_alive(&proc_root, 4243, None));
        assert!(!is_alive(&proc_root, 0, None));
    }

    #[test]
    fn a_reused_pid_is_not_the_owner() {
        let host = FakeHost::new();
        host.process(4242, 900);
        assert!(!is_alive(&host.paths().proc, 4242, Some(777)));
    }

    #[test]
    fn the_start_time_is_read_past_a_command_with_parentheses() {
        let host = FakeHost::new();
        host.process(17, 123_456);
        assert_eq!(start_time(&host.paths().proc, 17), Some(123_456));
    }

    #[test]
    fn this_process_is_alive_by_the_real_proc() {
        let pid = std::process::id();
        let started = start_time(Path::new("/proc"), pid);
        assert!(started.is_some(), "/proc/self/stat has a start time");
        assert!(is_alive(Path::new("/proc"), pid, started));
    }
}
