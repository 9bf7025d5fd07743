//! Running host commands with errors that say what failed.

use std::process::{Command, Stdio};

use super::error::BenchError;

/// The command line of `cmd`, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// The last `lines` lines of `text`, indented, for error messages.
fn tail(text: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(text);
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..]
        .iter()
        .map(|l| format!("\n    {l}"))
        .collect::<String>()
}

/// Runs `cmd` with its output shown to the user; fails if it exits non-zero.
pub fn run_checked(cmd: &mut Command) -> Result<(), BenchError> {
    let command = describe(cmd);
    let status = cmd.status().map_err(|source| BenchError::Spawn {
        command: command.clone(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(BenchError::CommandFailed {
            command,
            status: status.to_string(),
            detail: String::new(),
        })
    }
}

/// Runs `cmd` quietly and returns its standard output; fails with its error output if it
/// exits non-zero.
pub fn run_output(cmd: &mut Command) -> Result<String, BenchError> {
    let command = describe(cmd);
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BenchError::Spawn {
            command: command.clone(),
            source,
        })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(BenchError::CommandFailed {
            command,
            status: output.status.to_string(),
            detail: tail(&output.stderr, 10),
        })
    }
}

/// Whether a program is on `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}
