//! policies: see README.md of this crate.
