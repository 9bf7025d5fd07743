//! Scenario `host-cxl`: in L1, `doectl` drives QEMU's cxl-type3 DOE mailbox through sysfs
//! `config` — a DOE implementation nobody here wrote — and the host checks what it decoded.

use doe_proxy::protocol::cdat::{example_type3_table, CdatTable};

use super::common::{expect, json_in};

use crate::bench::job::Outcome;
use crate::bench::scenario::Scenario;

/// The scenario.
pub const SCENARIO: Scenario = Scenario {
    name: "host-cxl",
    description: "doectl list/discover/cdat against QEMU's cxl-type3 DOE in L1",
    topology: "cxl",
    kernel: None,
    l2_kernel: None,
    extra_l2_kernels: &[],
    l1_host_programs: &[],
    l2_host_programs: &[],
    l1_modules: &[],
    l2_modules: &[],
    check,
};

/// The CXL device in the `cxl` topology and its DOE capability offset.
const BDF: &str = "0000:0d:00.0";
const DOE_OFFSET: u64 = 0x190;
/// The topology's volatile memory backend (`vmem0`, 256 MiB).
const REGION_BYTES: u64 = 256 << 20;

fn check(outcome: &Outcome) -> Result<Vec<String>, String> {
    let lines = &outcome.console.lines;
    let mut facts = Vec::new();

    let list = json_in(lines, "list")?;
    let entry = list
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["device"] == BDF))
        .ok_or_else(|| format!("doectl list does not show {BDF}: {list}"))?;
    facts.push(expect(
        "list: mailboxes of the CXL device",
        entry["mailboxes"].clone(),
        serde_json::json!([DOE_OFFSET]),
    )?);

    let discover = json_in(lines, "discover-json")?;
    let mailboxes = discover["mailboxes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    facts.push(expect("discover: number of mailboxes", mailboxes.len(), 1)?);
    facts.push(expect(
        "discover: mailbox offset",
        mailboxes[0]["offset"].as_u64(),
        Some(DOE_OFFSET),
    )?);
    let ids: Vec<&str> = mailboxes[0]["protocols"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["id"].as_str()).collect())
        .unwrap_or_default();
    facts.push(expect(
        "discover: protocols",
        ids,
        vec!["0001:00", "1e98:02"],
    )?);

    let cdat = json_in(lines, "cdat-json")?;
    facts.push(expect(
        "cdat: checksum verified",
        cdat["checksum_valid"].as_bool(),
        Some(true),
    )?);
    facts.push(expect(
        "cdat: mailbox",
        cdat["mailbox"].as_u64(),
        Some(DOE_OFFSET),
    )?);
    let structures = cdat["structures"].as_array().cloned().unwrap_or_default();
    let count = |t: &str| structures.iter().filter(|s| s["type"] == t).count();
    facts.push(expect("cdat: DSMAS count", count("DSMAS"), 1)?);
    facts.push(expect("cdat: DSLBIS count", count("DSLBIS"), 4)?);
    facts.push(expect("cdat: DSEMTS count", count("DSEMTS"), 1)?);
    facts.push(expect("cdat: structures in all", structures.len(), 6)?);
    let dsmas = structures
        .iter()
        .find(|s| s["type"] == "DSMAS")
        .cloned()
        .unwrap_or_default();
    facts.push(expect(
        "cdat: DSMAS DPA length",
        dsmas["dpa_length"].as_u64(),
        Some(REGION_BYTES),
    )?);
    let header_len = cdat["header"]["length"].as_u64();
    facts.push(expect(
        "cdat: header length",
        header_len,
        Some(16 + 6 * 24),
    )?);

    // Latency and bandwidth as QEMU's cxl-type3 states them: 150/250 ns, 16 GB/s.
    for (data_type, what, value) in [
        (1, "read latency (ps)", 150_000),
        (2, "write latency (ps)", 250_000),
        (4, "read bandwidth (MB/s)", 16_000),
        (5, "write bandwidth (MB/s)", 16_000),
    ] {
        let d = structures
            .iter()
            .find(|s| s["type"] == "DSLBIS" && s["data_type"] == data_type)
            .ok_or_else(|| format!("no DSLBIS with data type {data_type}"))?;
        let got =
            d["entry_base_unit"].as_u64().unwrap_or(0) * d["entries"][0].as_u64().unwrap_or(0);
        facts.push(expect(&format!("cdat: DSLBIS {what}"), got, value)?);
    }

    // The raw bytes, parsed again on the host, are the table QEMU is known to build.
    let hex = cdat["bytes"]
        .as_str()
        .ok_or("cdat: no `bytes` in the JSON")?;
    let bytes = decode_hex(hex)?;
    let table = CdatTable::parse(&bytes)
        .map_err(|e| format!("cdat bytes do not parse on the host: {e}"))?;
    facts.push(expect(
        "cdat: table equals QEMU's cxl-type3 CDAT",
        table == example_type3_table(),
        true,
    )?);
    let reencoded = serde_json::to_value(&table).map_err(|e| e.to_string())?;
    facts.push(expect(
        "cdat: JSON structures equal the host's parse of the bytes",
        cdat["structures"] == reencoded["structures"],
        true,
    )?);
    Ok(facts)
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, String> {
    if hex.len() % 2 != 0 {
        return Err("odd-length hex".into());
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| format!("bad hex: {e}")))
        .collect()
}
