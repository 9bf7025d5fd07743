//! PCI function addresses (domain, bus, device, function) as Linux names them in sysfs.
//!
//! Linux writes `DDDD:BB:dd.f` in lower-case hex (`0000:0d:00.0`); `lspci` also accepts the
//! short form without the domain (`0d:00.0`), which means domain 0. Both parse here; the
//! long form is what [`Bdf`] prints and serialises to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Devices per bus: the device number is 5 bits wide (PCIe r6.0 §2.2.4.2, Routing ID).
const DEVICES_PER_BUS: u8 = 32;
/// Functions per device: the function number is 3 bits wide (PCIe r6.0 §2.2.4.2).
const FUNCTIONS_PER_DEVICE: u8 = 8;
/// Most hex digits of each field in the text form: domain, bus, device, function.
const DOMAIN_DIGITS: usize = 4;
const BUS_DIGITS: usize = 2;
const DEVICE_DIGITS: usize = 2;
const FUNCTION_DIGITS: usize = 1;

/// The address of one PCI function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bdf {
    /// PCI segment (domain).
    pub domain: u16,
    /// Bus number.
    pub bus: u8,
    /// Device number, below 32.
    pub device: u8,
    /// Function number, below 8.
    pub function: u8,
}

/// A PCI address that does not parse or is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BdfError {
    /// The text is not `DDDD:BB:dd.f` or `BB:dd.f`.
    #[error("{0:?} is not a PCI address (expected DDDD:BB:dd.f or BB:dd.f)")]
    Format(String),
    /// A field holds something other than 1 to `max_digits` hex digits.
    #[error("PCI address field {field} {text:?} is not 1 to {max_digits} hex digit(s)")]
    Field {
        /// The field's name: domain, bus, device or function.
        field: &'static str,
        /// The text found there.
        text: String,
        /// How many hex digits the field may have.
        max_digits: usize,
    },
    /// The device number is 32 or more.
    #[error("PCI device number {0:#x} is out of range (must be below 0x20)")]
    DeviceOutOfRange(u8),
    /// The function number is 8 or more.
    #[error("PCI function number {0:#x} is out of range (must be below 8)")]
    FunctionOutOfRange(u8),
}

impl Bdf {
    /// A checked address.
    pub fn new(domain: u16, bus: u8, device: u8, function: u8) -> Result<Self, BdfError> {
        if device >= DEVICES_PER_BUS {
            return Err(BdfError::DeviceOutOfRange(device));
        }
        if function >= FUNCTIONS_PER_DEVICE {
            return Err(BdfError::FunctionOutOfRange(function));
        }
        Ok(Bdf {
            domain,
            bus,
            device,
            function,
        })
    }
}

/// Parses one hex field of at most `max_digits` digits (no sign, no spaces, no `0x`).
fn hex_field(field: &'static str, text: &str, max_digits: usize) -> Result<u32, BdfError> {
    let valid =
        !text.is_empty() && text.len() <= max_digits && text.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err(BdfError::Field {
            field,
            text: text.to_owned(),
            max_digits,
        });
    }
    // At most four hex digits, so the value fits in a u32.
    Ok(u32::from_str_radix(text, 16).expect("checked hex digits"))
}

impl FromStr for Bdf {
    type Err = BdfError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let format_error = || BdfError::Format(s.to_owned());
        let (slot, function) = s.rsplit_once('.').ok_or_else(format_error)?;
        let parts: Vec<&str> = slot.split(':').collect();
        let (domain, bus, device) = match parts.as_slice() {
            [domain, bus, device] => (*domain, *bus, *device),
            [bus, device] => ("0", *bus, *device),
            _ => return Err(format_error()),
        };
        let domain = hex_field("domain", domain, DOMAIN_DIGITS)?;
        let bus = hex_field("bus", bus, BUS_DIGITS)?;
        let device = hex_field("device", device, DEVICE_DIGITS)?;
        let function = hex_field("function", function, FUNCTION_DIGITS)?;
        // Each value was bounded by its digit count, so the narrowing casts are exact.
        Bdf::new(domain as u16, bus as u8, device as u8, function as u8)
    }
}

/// Formats as Linux's sysfs names a function: `0000:0d:00.0`.
impl fmt::Display for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

/// Serialises as the string [`Display`](fmt::Display) prints.
impl Serialize for Bdf {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Deserialises from either text form that [`FromStr`] accepts.
impl<'de> Deserialize<'de> for Bdf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_long_and_short_forms() {
        let cxl = Bdf {
            domain: 0,
            bus: 0x0d,
            device: 0,
            function: 0,
        };
        assert_eq!("0000:0d:00.0".parse::<Bdf>().unwrap(), cxl);
        assert_eq!("0d:00.0".parse::<Bdf>().unwrap(), cxl);
        assert_eq!(
            "ABCD:FF:1f.7".parse::<Bdf>().unwrap(),
            Bdf {
                domain: 0xabcd,
                bus: 0xff,
                device: 0x1f,
                function: 7
            }
        );
    }

    #[test]
    fn displays_as_sysfs_name() {
        let vf: Bdf = "1:2:3.2".parse().unwrap();
        assert_eq!(vf.to_string(), "0001:02:03.2");
        assert_eq!(
            "01:00.1".parse::<Bdf>().unwrap().to_string(),
            "0000:01:00.1"
        );
    }

    #[test]
    fn rejects_out_of_range_numbers() {
        assert_eq!(
            "0000:00:20.0".parse::<Bdf>(),
            Err(BdfError::DeviceOutOfRange(0x20))
        );
        assert_eq!(
            "0000:00:00.8".parse::<Bdf>(),
            Err(BdfError::FunctionOutOfRange(8))
        );
        assert_eq!(Bdf::new(0, 0, 31, 8), Err(BdfError::FunctionOutOfRange(8)));
    }

    #[test]
    fn rejects_malformed_text() {
        for text in ["", "0d:00", "0000:0d:00:00.0", "0d.00.0", "0000:0d"] {
            assert_eq!(
                text.parse::<Bdf>(),
                Err(BdfError::Format(text.to_owned())),
                "{text:?}"
            );
        }
        assert_eq!(
            "0000:0d:00.".parse::<Bdf>(),
            Err(BdfError::Field {
                field: "function",
                text: String::new(),
                max_digits: 1
            })
        );
        assert_eq!(
            "+d:00.0".parse::<Bdf>(),
            Err(BdfError::Field {
                field: "bus",
                text: "+d".into(),
                max_digits: 2
            })
        );
        assert_eq!(
            "00000:0d:00.0".parse::<Bdf>(),
            Err(BdfError::Field {
                field: "domain",
                text: "00000".into(),
                max_digits: 4
            })
        );
        assert!(matches!(
            "0000:0d:00.10".parse::<Bdf>(),
            Err(BdfError::Field {
                field: "function",
                ..
            })
        ));
        assert!(matches!(
            " 0d:00.0".parse::<Bdf>(),
            Err(BdfError::Field { field: "bus", .. })
        ));
    }

    #[test]
    fn serde_uses_the_string_form() {
        let bdf: Bdf = "0d:00.0".parse().unwrap();
        assert_eq!(serde_json::to_string(&bdf).unwrap(), "\"0000:0d:00.0\"");
        assert_eq!(
            serde_json::from_str::<Bdf>("\"0000:01:00.2\"").unwrap(),
            Bdf::new(0, 1, 0, 2).unwrap()
        );
        assert!(serde_json::from_str::<Bdf>("\"0000:01:20.0\"").is_err());
    }
}
