//! `doectl exchange <BDF> <PROTOCOL> [PAYLOAD]`: one raw DOE exchange — a request object of
//! the given protocol carrying the payload bytes — and the response object it got.

use doe_proxy::exchange::ObjectExchange;
use doe_proxy::pci_address::Bdf;
use doe_proxy::protocol::{bytes_to_dwords, dwords_to_bytes, to_hex, DataObject, ProtocolId};
use serde::Serialize;

use crate::exit::ToolError;
use crate::target::Target;
use crate::MailboxArgs;

#[derive(Serialize)]
struct Report {
    device: String,
    mailbox: u16,
    request_protocol: String,
    response_protocol: String,
    /// Response payload bytes (after the two header dwords), hex.
    response: String,
}

/// Parses `vvvv:tt` (hex vendor ID and object type), e.g. `0001:01`.
pub fn parse_protocol(text: &str) -> Result<ProtocolId, String> {
    let bad = || format!("`{text}` is not a DOE protocol (expected vvvv:tt in hex, e.g. 0001:01)");
    let (vendor, object_type) = text.split_once(':').ok_or_else(bad)?;
    if vendor.len() != 4 || object_type.len() != 2 {
        return Err(bad());
    }
    Ok(ProtocolId {
        vendor: u16::from_str_radix(vendor, 16).map_err(|_| bad())?,
        object_type: u8::from_str_radix(object_type, 16).map_err(|_| bad())?,
    })
}

/// Parses hex bytes (`10840000`, spaces and `:` allowed between bytes).
pub fn parse_payload(text: &str) -> Result<Vec<u8>, String> {
    let digits: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    if digits.len() % 2 != 0 {
        return Err(format!("payload `{text}` has an odd number of hex digits"));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16)
                .map_err(|_| format!("payload `{text}` is not hex bytes"))
        })
        .collect()
}

/// Runs `doectl exchange`: the payload is padded with zero bytes to whole dwords, as DOE
/// carries it. Uses `--mailbox`, or the function's first mailbox.
pub fn run(
    target: &mut Target,
    bdf: Bdf,
    args: &MailboxArgs,
    protocol: ProtocolId,
    payload: &[u8],
) -> Result<(), ToolError> {
    let offset = target.mailbox_offsets(bdf, args)?[0];
    let request = DataObject::new(protocol, bytes_to_dwords(payload))
        .encode()
        .map_err(|e| ToolError::Other(format!("request: {e}")))?;
    let response = target.open(bdf, offset, args)?.exchange(&request)?;
    let response =
        DataObject::decode(&response).map_err(|e| ToolError::Malformed(e.to_string()))?;
    let hex = to_hex(&dwords_to_bytes(&response.payload));
    if args.json {
        return crate::print_json(&Report {
            device: bdf.to_string(),
            mailbox: offset,
            request_protocol: protocol.to_string(),
            response_protocol: response.protocol.to_string(),
            response: hex,
        });
    }
    println!(
        "{bdf} DOE mailbox at {offset:#x}: {} response, {} payload byte(s): {hex}",
        response.protocol,
        4 * response.payload.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_and_payloads_parse() {
        assert_eq!(parse_protocol("0001:01"), Ok(ProtocolId::CMA_SPDM));
        assert_eq!(parse_protocol("1e98:02"), Ok(ProtocolId::CXL_TABLE_ACCESS));
        assert!(parse_protocol("1:1").is_err());
        assert!(parse_protocol("zzzz:01").is_err());
        assert_eq!(parse_payload("10 84 00:00"), Ok(vec![0x10, 0x84, 0, 0]));
        assert!(parse_payload("108").is_err());
        assert!(parse_payload("1g").is_err());
    }
}
