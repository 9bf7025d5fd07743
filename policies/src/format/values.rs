//! The values a policy file writes as strings or numbers, each parsed and checked where it
//! is read so that a bad one is reported at its own line and column.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IntoDeserializer, SeqAccess, Visitor};
use toml::Spanned;

use crate::error::ValidationError;
use crate::ids::{Bdf, DeviceIds, ProtocolId};
use crate::rule::FunctionMatch;
use crate::spdm::SpdmRequestCode;

/// The word that selects every client, function or protocol.
pub(crate) const ANY: &str = "*";
/// Hex digits of the vendor and of the type in `vvvv:tt`, and of each half of `vvvv:dddd`.
const VENDOR_DIGITS: usize = 4;
const TYPE_DIGITS: usize = 2;
const DEVICE_DIGITS: usize = 4;

/// A selector as written: `"*"`, one value, or a list of values.
pub(crate) enum RawSelector<T> {
    /// `"*"`.
    Any,
    /// A single value (its span is the field's).
    One(T),
    /// A list, each value with its own span.
    Many(Vec<Spanned<T>>),
}

impl<'de, T> Deserialize<'de> for RawSelector<T>
where
    T: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SelectorVisitor(PhantomData))
    }
}

struct SelectorVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for SelectorVisitor<T> {
    type Value = RawSelector<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"*\", a value, or a list of values")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        if text == ANY {
            return Ok(RawSelector::Any);
        }
        T::deserialize(text.into_deserializer()).map(RawSelector::One)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        T::deserialize(value.into_deserializer()).map(RawSelector::One)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut values = Vec::new();
        while let Some(value) = seq.next_element::<Spanned<T>>()? {
            values.push(value);
        }
        Ok(RawSelector::Many(values))
    }
}

/// Implements `Deserialize` for a type read from a string by `parse`.
macro_rules! from_policy_string {
    ($type:ty, $expecting:literal, $parse:expr) => {
        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct StringVisitor;
                impl Visitor<'_> for StringVisitor {
                    type Value = $type;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, text: &str) -> Result<$type, E> {
                        let parse: fn(&str) -> Result<$type, ValidationError> = $parse;
                        parse(text).map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(StringVisitor)
            }
        }
    };
}

/// A guest name as given to `vmm --name`.
pub(crate) struct GuestName(pub(crate) String);

from_policy_string!(GuestName, "a guest name", parse_guest_name);

fn parse_guest_name(text: &str) -> Result<GuestName, ValidationError> {
    let valid = !text.is_empty()
        && text != ANY
        && !text.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(ValidationError::GuestName(text.to_owned()));
    }
    Ok(GuestName(text.to_owned()))
}

/// A DOE protocol written `vvvv:tt`.
pub(crate) struct ProtocolValue(pub(crate) ProtocolId);

from_policy_string!(
    ProtocolValue,
    "a DOE protocol as vendor:type, e.g. \"0001:01\"",
    parse_protocol
);

fn parse_protocol(text: &str) -> Result<ProtocolValue, ValidationError> {
    let bad = || ValidationError::Protocol(text.to_owned());
    let (vendor, object_type) = text.split_once(':').ok_or_else(bad)?;
    let vendor = hex_exact(vendor, VENDOR_DIGITS).ok_or_else(bad)?;
    let object_type = hex_exact(object_type, TYPE_DIGITS).ok_or_else(bad)?;
    // The digit counts bound the values: 4 digits fit a u16, 2 a u8.
    Ok(ProtocolValue(ProtocolId::new(
        vendor as u16,
        object_type as u8,
    )))
}

from_policy_string!(
    FunctionMatch,
    "a PCI address (\"0000:0d:00.0\") or vendor:device (\"8086:0d93\")",
    parse_function
);

fn parse_function(text: &str) -> Result<FunctionMatch, ValidationError> {
    // A PCI address always has a '.' before the function number; vendor:device never does.
    if text.contains('.') {
        return text
            .parse::<Bdf>()
            .map(FunctionMatch::Address)
            .map_err(|err| ValidationError::FunctionAddress(err.to_string()));
    }
    let bad = || ValidationError::Function(text.to_owned());
    let (vendor, device) = text.split_once(':').ok_or_else(bad)?;
    let vendor = hex_exact(vendor, VENDOR_DIGITS).ok_or_else(bad)?;
    let device = hex_exact(device, DEVICE_DIGITS).ok_or_else(bad)?;
    Ok(FunctionMatch::Ids(DeviceIds {
        vendor: vendor as u16,
        device: device as u16,
    }))
}

/// Exactly `digits` hex digits (either case), as a number.
fn hex_exact(text: &str, digits: usize) -> Option<u32> {
    if text.len() != digits || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// An SPDM request code written as a name (`"GET_VERSION"`), a hex string (`"0x84"`) or
/// a TOML integer (`0x84`).
pub(crate) struct SpdmCodeValue(pub(crate) SpdmRequestCode);

impl<'de> Deserialize<'de> for SpdmCodeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CodeVisitor;
        impl Visitor<'_> for CodeVisitor {
            type Value = SpdmCodeValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an SPDM request code: a name such as \"GET_VERSION\" or a number such as 0x84",
                )
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<SpdmCodeValue, E> {
                SpdmRequestCode::parse(text)
                    .map(SpdmCodeValue)
                    .map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<SpdmCodeValue, E> {
                let value = u64::try_from(value)
                    .map_err(|_| E::custom(format!("{value} is not an SPDM request code")))?;
                SpdmRequestCode::from_number(value)
                    .map(SpdmCodeValue)
                    .map_err(E::custom)
            }
        }
        deserializer.deserialize_any(CodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_need_four_and_two_hex_digits() {
        assert_eq!(
            parse_protocol("1E98:02").unwrap().0,
            ProtocolId::CXL_TABLE_ACCESS
        );
        for bad in ["1:1", "0001:001", "0001", "00g1:01", "0001:01:00", ""] {
            assert!(parse_protocol(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn functions_by_address_or_ids() {
        assert_eq!(
            parse_function("0000:0d:00.0").unwrap(),
            FunctionMatch::Address(Bdf::new(0, 0x0d, 0, 0).unwrap())
        );
        assert_eq!(
            parse_function("8086:0D93").unwrap(),
            FunctionMatch::Ids(DeviceIds {
                vendor: 0x8086,
                device: 0x0d93
            })
        );
        assert!(matches!(
            parse_function("0000:0d:20.0"),
            Err(ValidationError::FunctionAddress(_))
        ));
        for bad in ["8086", "8086:d93", "8086:0d93:1", "nvme"] {
            assert!(
                matches!(parse_function(bad), Err(ValidationError::Function(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn guest_names() {
        assert!(parse_guest_name("vm-a").is_ok());
        for bad in ["", "*", "vm a", "vm\u{7}"] {
            assert!(parse_guest_name(bad).is_err(), "{bad:?}");
        }
    }
}
