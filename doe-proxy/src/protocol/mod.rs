//! Pure codecs for DOE data objects and the protocols that ride on them.
//!
//! Nothing here does I/O: bytes or dwords in, typed values or typed errors out.
//! A DOE object travels through the mailbox registers as little-endian dwords, so
//! objects are handled as `&[u32]`; table payloads such as CDAT are byte strings and
//! are converted with [`dwords_to_bytes`] / [`bytes_to_dwords`].

pub mod cdat;
pub mod discovery;
pub mod header;
pub mod table_access;

pub use header::{DataObject, DataObjectHeader, HeaderError, ProtocolId, MAX_OBJECT_DWORDS};

/// The little-endian bytes of a sequence of dwords.
pub fn dwords_to_bytes(dwords: &[u32]) -> Vec<u8> {
    dwords.iter().flat_map(|dw| dw.to_le_bytes()).collect()
}

/// Bytes as lowercase hex, two digits each, nothing between (as reports print tables).
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Packs bytes into little-endian dwords, zero-padding the last one.
pub fn bytes_to_dwords(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(4)
        .map(|chunk| {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            u32::from_le_bytes(word)
        })
        .collect()
}
