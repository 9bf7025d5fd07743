//! The control socket's line protocol (a contract: `doectl policy reload --vmm` and the
//! bench rely on it).
//!
//! A client sends one command per line (UTF-8, `\n`-terminated, at most
//! [`MAX_LINE`] bytes); vmm answers each with one line:
//!
//! | request | answer |
//! |---|---|
//! | `policy reload` | `ok` — the policy file was re-read and is in force; or `error: <file:line:col: message>` — it was refused and the policy in force stays |
//! | `policy show` | `ok <origin>` — the file the policy in force was read from, or `<builtin>` |
//! | `stats` | `ok <json>` — the VM's counters since it started, one JSON object: `exits` (`mmio_read`, `mmio_write`, `coalesced_write`, `pio_read`, `pio_write`) and `doe_completion_wait` (`bound_us`, `waits`, `completed`, `timed_out`, `total_us`, `max_us`); see `vmm/README.md` |
//! | anything else | `error: <message>` |
//!
//! Words are separated by spaces or tabs; leading and trailing blanks (and a `\r`) are
//! ignored. The connection stays open for more commands until the client closes it.

use super::Control;

/// The longest request line accepted; a longer one is answered with an error and the
/// connection is closed.
pub const MAX_LINE: usize = 1024;

/// A request of the control protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Re-read the policy file.
    PolicyReload,
    /// Name the policy in force.
    PolicyShow,
    /// Report the VM's counters.
    Stats,
}

/// The commands, for error messages.
const COMMANDS: &str = "`policy reload`, `policy show`, `stats`";

/// Parses one request line (without its `\n`).
pub fn parse(line: &str) -> Result<Command, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["policy", "reload"] => Ok(Command::PolicyReload),
        ["policy", "show"] => Ok(Command::PolicyShow),
        ["stats"] => Ok(Command::Stats),
        [] => Err(format!("empty command; commands: {COMMANDS}")),
        _ => Err(format!(
            "unknown command {:?}; commands: {COMMANDS}",
            line.trim()
        )),
    }
}

/// Runs `command` and returns its answer line (without `\n`).
pub fn execute(command: Command, target: &dyn Control) -> String {
    match command {
        Command::PolicyReload => match target.reload() {
            Ok(origin) => {
                log::info!("policy reloaded from {origin} (control socket)");
                "ok".to_owned()
            }
            Err(e) => {
                log::warn!("policy reload refused (control socket): {e}");
                error_line(&e)
            }
        },
        Command::PolicyShow => format!("ok {}", target.origin()),
        Command::Stats => format!("ok {}", target.stats()),
    }
}

/// Parses and runs one request line; returns the answer line (without `\n`).
pub fn answer(line: &str, target: &dyn Control) -> String {
    match parse(line) {
        Ok(command) => execute(command, target),
        Err(e) => error_line(&e),
    }
}

/// `error: <message>` on one line.
pub fn error_line(message: &str) -> String {
    format!("error: {}", message.replace(['\n', '\r'], " "))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::control::Reload;

    /// Succeeds or fails as told; counts reloads.
    struct Fake {
        fail: Option<&'static str>,
        reloads: Cell<u32>,
    }

    impl Reload for Fake {
        fn reload(&self) -> Result<String, String> {
            self.reloads.set(self.reloads.get() + 1);
            match self.fail {
                Some(e) => Err(e.to_owned()),
                None => Ok("/etc/p.toml".to_owned()),
            }
        }

        fn origin(&self) -> String {
            "/etc/p.toml".to_owned()
        }
    }

    impl Control for Fake {
        fn stats(&self) -> String {
            r#"{"exits":{"mmio_read":1}}"#.to_owned()
        }

        fn refused(&self, _peer: &policies::ClientIdentity, _socket: &str, _detail: &str) {}
    }

    fn fake(fail: Option<&'static str>) -> Fake {
        Fake {
            fail,
            reloads: Cell::new(0),
        }
    }

    #[test]
    fn commands_parse_with_any_blanks() {
        assert_eq!(parse("policy reload"), Ok(Command::PolicyReload));
        assert_eq!(parse("  policy\treload \r"), Ok(Command::PolicyReload));
        assert_eq!(parse("policy show"), Ok(Command::PolicyShow));
        assert_eq!(parse(" stats "), Ok(Command::Stats));
        assert!(parse("stats now").is_err());
        assert!(parse("").unwrap_err().contains("empty"));
        assert!(parse("policy")
            .unwrap_err()
            .contains("unknown command \"policy\""));
        assert!(parse("policy reload now").is_err());
        assert!(parse("POLICY RELOAD").is_err());
    }

    #[test]
    fn reload_answers_ok_or_the_error_on_one_line() {
        let good = fake(None);
        assert_eq!(answer("policy reload", &good), "ok");
        assert_eq!(good.reloads.get(), 1);
        let bad = fake(Some("p.toml:4:9: unknown key `x`\nmore"));
        assert_eq!(
            answer("policy reload", &bad),
            "error: p.toml:4:9: unknown key `x` more"
        );
        assert_eq!(answer("policy show", &good), "ok /etc/p.toml");
        assert_eq!(answer("stats", &good), r#"ok {"exits":{"mmio_read":1}}"#);
        assert!(answer("reboot", &good).starts_with("error: unknown command"));
        assert_eq!(good.reloads.get(), 1);
    }
}
