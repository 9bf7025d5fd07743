//! CMA/SPDM (DMTF DSP0274 carried in DOE objects of protocol `0001:01`): what the
//! mediator and its clients need to read or build of it, transport-agnostic.

pub mod error;
