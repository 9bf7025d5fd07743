//! `doectl stats --vmm <socket>`: prints a running `vmm`'s counters (guest exits by kind,
//! DOE completion waits) as one JSON line, from its control socket's `stats` command
//! (`vmm/README.md`, "Admin control").

use std::path::Path;

use crate::exit::ToolError;
use crate::policy::request;

/// Asks the vmm at `socket` for its counters and prints them.
pub fn run(socket: &Path) -> Result<(), ToolError> {
    println!("{}", counters(socket)?);
    Ok(())
}

/// The JSON object vmm answered `stats` with.
fn counters(socket: &Path) -> Result<String, ToolError> {
    let answer = request(socket, "stats")?;
    match answer.strip_prefix("ok ") {
        Some(json) if json.starts_with('{') => Ok(json.to_owned()),
        _ => match answer.strip_prefix("error: ") {
            Some(error) => Err(ToolError::Other(format!("vmm refused `stats`: {error}"))),
            None => Err(ToolError::Other(format!(
                "unexpected answer from vmm: {answer:?}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::fake_vmm;

    #[test]
    fn the_json_is_passed_through() {
        let (path, server) = fake_vmm("stats", "ok", "ok {\"exits\":{\"mmio_read\":7}}\n");
        assert_eq!(counters(&path).unwrap(), "{\"exits\":{\"mmio_read\":7}}");
        assert_eq!(server.join().unwrap(), "stats");
    }

    #[test]
    fn an_old_vmm_or_a_bad_answer_is_an_error() {
        let (path, server) = fake_vmm("stats", "old", "error: unknown command \"stats\"\n");
        let err = counters(&path).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(err.to_string().contains("refused `stats`"), "{err}");
        server.join().unwrap();
        let (path, server) = fake_vmm("stats", "bad", "ok\n");
        assert!(counters(&path)
            .unwrap_err()
            .to_string()
            .contains("unexpected"));
        server.join().unwrap();
    }
}
