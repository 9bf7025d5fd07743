//! `doectl policy reload --vmm <socket>`: asks a running `vmm` to re-read its policy file,
//! through its control socket (`vmm --api-socket`; the line protocol is documented in
//! `vmm/README.md`): one request line `policy reload`, one answer line, `ok` or
//! `error: <file:line:col: message>`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;

use crate::exit::ToolError;

/// How long to wait for vmm's answer (a reload reads one small file).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// `doectl policy ...`.
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Have a running vmm re-read its policy file; a bad file is refused with its error
    /// and the policy in force stays.
    Reload {
        /// The vmm's control socket (its --api-socket).
        #[arg(long, value_name = "SOCKET")]
        vmm: PathBuf,
    },
}

/// Runs a `policy` subcommand.
pub fn run(command: &PolicyCommand) -> Result<(), ToolError> {
    match command {
        PolicyCommand::Reload { vmm } => {
            let answer = request(vmm, "policy reload")?;
            match answer.strip_prefix("error: ") {
                None if answer == "ok" => {
                    println!("ok");
                    Ok(())
                }
                Some(error) => Err(ToolError::Other(format!("vmm refused the policy: {error}"))),
                None => Err(ToolError::Other(format!(
                    "unexpected answer from vmm: {answer:?}"
                ))),
            }
        }
    }
}

/// Sends one request line to the control socket at `socket` and returns the answer line
/// (without its line end).
pub fn request(socket: &Path, line: &str) -> Result<String, ToolError> {
    let fail = |what: &str, e: std::io::Error| {
        ToolError::Other(format!("{what} {}: {e}", socket.display()))
    };
    let mut stream = UnixStream::connect(socket).map_err(|e| fail("cannot connect to", e))?;
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .map_err(|e| fail("cannot set a timeout on", e))?;
    // A refused peer is answered and closed at once: the write may then fail (EPIPE),
    // and the refusal is still there to read.
    let written = stream.write_all(format!("{line}\n").as_bytes());
    let mut answer = String::new();
    let read = BufReader::new(&stream).read_line(&mut answer);
    let answer = answer.trim_end_matches(['\n', '\r']).to_owned();
    if let Some(refusal) = answer.strip_prefix("error: permission denied: ") {
        return Err(ToolError::PermissionDenied(format!(
            "{}: {refusal}",
            socket.display()
        )));
    }
    written.map_err(|e| fail("cannot write to", e))?;
    read.map_err(|e| fail("no answer from", e))?;
    if answer.is_empty() {
        return Err(ToolError::Other(format!(
            "{} closed the connection without an answer",
            socket.display()
        )));
    }
    Ok(answer)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Read;
    use std::os::unix::net::UnixListener;
    use std::thread;

    use super::*;

    /// A socket at a fresh path named after `tool` and `name`, listening.
    fn listen(tool: &str, name: &str) -> (PathBuf, UnixListener) {
        let dir = std::env::temp_dir().join(format!("doectl-{tool}-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("api.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        (path, listener)
    }

    /// A fake vmm control socket (named after `tool` and `name`): answers the first
    /// request line with `answer`; returns what it got.
    pub(crate) fn fake_vmm(
        tool: &str,
        name: &str,
        answer: &'static str,
    ) -> (PathBuf, thread::JoinHandle<String>) {
        let (path, listener) = listen(tool, name);
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut byte = [0u8; 1];
            while stream.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
                got.push(byte[0]);
            }
            stream.write_all(answer.as_bytes()).unwrap();
            String::from_utf8(got).unwrap()
        });
        (path, server)
    }

    #[test]
    fn ok_is_success() {
        let (path, server) = fake_vmm("policy", "ok", "ok\n");
        run(&PolicyCommand::Reload { vmm: path }).unwrap();
        assert_eq!(server.join().unwrap(), "policy reload");
    }

    #[test]
    fn an_error_answer_is_exit_1_with_the_error() {
        let (path, server) = fake_vmm(
            "policy",
            "error",
            "error: p.toml:3:10: unknown action \"maybe\"\n",
        );
        let err = run(&PolicyCommand::Reload { vmm: path }).unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert_eq!(
            err.to_string(),
            "vmm refused the policy: p.toml:3:10: unknown action \"maybe\""
        );
        server.join().unwrap();
    }

    #[test]
    fn a_refused_peer_is_exit_5_even_if_its_request_was_never_read() {
        let (path, listener) = listen("policy", "refused");
        // As vmm refuses a peer: one line, then close, without reading the request.
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .write_all(b"error: permission denied: uid 1000 (gid 1000) may not use it\n")
                .unwrap();
        });
        let err = run(&PolicyCommand::Reload { vmm: path.clone() }).unwrap_err();
        server.join().unwrap();
        assert_eq!(err.exit_code(), 5, "{err}");
        assert!(err.to_string().contains("uid 1000"), "{err}");
    }

    #[test]
    fn no_answer_and_no_socket_are_errors() {
        let (path, server) = fake_vmm("policy", "none", "");
        let err = run(&PolicyCommand::Reload { vmm: path.clone() }).unwrap_err();
        assert!(err.to_string().contains("without an answer"), "{err}");
        server.join().unwrap();
        std::fs::remove_file(&path).unwrap();
        let err = run(&PolicyCommand::Reload { vmm: path }).unwrap_err();
        assert!(err.to_string().contains("cannot connect"), "{err}");
        assert_eq!(err.exit_code(), 1);
    }
}
