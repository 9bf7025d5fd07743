//! devices: see README.md of this crate.
