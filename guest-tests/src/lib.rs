//! guest-tests: the nested bench; see README.md.
