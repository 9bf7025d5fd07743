//! How every guest tool that reports in JSON ends: the report on stdout, or one line
//! `<tool>: <error>` on stderr and exit 1.

use std::process::ExitCode;

use serde::Serialize;

/// Prints `result`'s report (pretty JSON) and exits 0, or its error as `tool: error` and
/// exits 1.
pub fn finish<T: Serialize>(tool: &str, result: Result<T, String>) -> ExitCode {
    finish_with(tool, result, serde_json::to_string_pretty)
}

/// [`finish`] with the report on one line: for reports read by programs through a slow
/// console (an L2 serial port in the nested bench), where every byte costs.
pub fn finish_compact<T: Serialize>(tool: &str, result: Result<T, String>) -> ExitCode {
    finish_with(tool, result, serde_json::to_string)
}

fn finish_with<T: Serialize>(
    tool: &str,
    result: Result<T, String>,
    to_json: fn(&T) -> serde_json::Result<String>,
) -> ExitCode {
    match result.map(|report| to_json(&report)) {
        Ok(Ok(json)) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("{tool}: cannot write the report: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{tool}: {e}");
            ExitCode::FAILURE
        }
    }
}
