//! `pci-inventory`: what a guest sees on its PCI bus, as JSON — every function's IDs,
//! class, memory/I/O resources and extended capability chain (read through sysfs
//! `config`, so it needs root). Runs in L2 (and L1); scenarios check its output.

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use doe_proxy::config_space::{Access, SysfsConfig, SYSFS_PCI_DEVICES};
use doe_proxy::ext_cap;
use doe_proxy::sysfs_scan;
use serde::Serialize;

/// `IORESOURCE_IO` and `IORESOURCE_MEM` in a sysfs `resource` line's flags
/// (`include/linux/ioport.h`).
const IORESOURCE_IO: u64 = 0x100;
const IORESOURCE_MEM: u64 = 0x200;

#[derive(Serialize)]
struct Resource {
    index: usize,
    kind: &'static str,
    start: u64,
    end: u64,
}

#[derive(Serialize)]
struct ExtCap {
    offset: u16,
    id: u16,
    version: u8,
}

#[derive(Serialize)]
struct Function {
    device: String,
    vendor_id: String,
    device_id: String,
    class: String,
    resources: Vec<Resource>,
    ext_caps: Vec<ExtCap>,
    ext_caps_error: Option<String>,
}

fn read_trimmed(path: &Path) -> String {
    fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn resources(dir: &Path) -> Vec<Resource> {
    read_trimmed(&dir.join("resource"))
        .lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let mut words = line
                .split_whitespace()
                .map(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).unwrap_or(0));
            let (start, end, flags) = (words.next()?, words.next()?, words.next()?);
            let kind = if flags & IORESOURCE_MEM != 0 {
                "mem"
            } else if flags & IORESOURCE_IO != 0 {
                "io"
            } else {
                return None;
            };
            Some(Resource {
                index,
                kind,
                start,
                end,
            })
        })
        .collect()
}

fn main() -> ExitCode {
    let bdfs = match sysfs_scan::all_functions() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("pci-inventory: cannot list {SYSFS_PCI_DEVICES}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut functions = Vec::new();
    for bdf in bdfs {
        let dir = Path::new(SYSFS_PCI_DEVICES).join(bdf.to_string());
        let size = fs::metadata(dir.join("config"))
            .map(|m| m.len())
            .unwrap_or(0);
        let (ext_caps, ext_caps_error) = if size > u64::from(ext_cap::EXT_CAP_START) {
            match SysfsConfig::open(&bdf, Access::ReadOnly)
                .map_err(|e| e.to_string())
                .and_then(|cfg| ext_cap::walk(&cfg).map_err(|e| e.to_string()))
            {
                Ok(caps) => (caps, None),
                Err(e) => (Vec::new(), Some(e)),
            }
        } else {
            (Vec::new(), None)
        };
        functions.push(Function {
            device: bdf.to_string(),
            vendor_id: read_trimmed(&dir.join("vendor")),
            device_id: read_trimmed(&dir.join("device")),
            class: read_trimmed(&dir.join("class")),
            resources: resources(&dir),
            ext_caps: ext_caps
                .into_iter()
                .map(|c| ExtCap {
                    offset: c.offset,
                    id: c.id,
                    version: c.version,
                })
                .collect(),
            ext_caps_error,
        });
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&functions).expect("the inventory serialises")
    );
    ExitCode::SUCCESS
}
