//! Scenario `host-cxl`: in L1, `doectl` drives QEMU's cxl-type3 DOE mailbox through sysfs
//! `config` — a DOE implementation nobody here wrote — and the host checks what it decoded.

use serde_json::Value;

use crate::bench::job::Outcome;
use crate::bench::scenario::Scenario;

/// The scenario.
pub const SCENARIO: Scenario = Scenario {
    name: "host-cxl",
    description: "doectl list/discover/cdat against QEMU's cxl-type3 DOE in L1",
    topology: "cxl",
    kernel: None,
    l2_kernel: None,
    check,
};

/// The CXL device in the `cxl` topology.
const BDF: &str = "0000:0d:00.0";

fn json_section(outcome: &Outcome, name: &str) -> Result<Value, String> {
    let lines = outcome
        .section(name)
        .ok_or_else(|| format!("section `{name}` missing from the console"))?;
    serde_json::from_str(&lines.join("\n")).map_err(|e| format!("section `{name}`: bad JSON: {e}"))
}

fn check(outcome: &Outcome) -> Result<Vec<String>, String> {
    let mut facts: Vec<String> = Vec::new();
    let discover = json_section(outcome, "discover-json")?;
    let _ = (&discover, BDF, &mut facts);
    Err("check not written yet".into())
}
