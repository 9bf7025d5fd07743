//! Tests of the trap map and the capability model of an assigned function, against the
//! mock device (no VFIO needed).

mod cxl;
mod fixtures;
mod handlers;
mod hostile;
mod interrupts;
