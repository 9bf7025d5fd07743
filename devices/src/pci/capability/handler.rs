//! The registers of a virtualised or synthesised capability, owned by the VMM.

/// A capability whose registers the VMM emulates instead of the device.
///
/// The [`CapabilityLayout`](super::CapabilityLayout) serves the header (ID, version and
/// the re-linked next pointer); the handler is asked only for the bytes after it, up to
/// the length it was registered with. Offsets are from the capability's header, so a
/// handler does not care where the capability sits. Accesses are at most 4 bytes and
/// never cross the handler's range; they may be narrower than the registers (a guest
/// may read one byte of a dword register).
pub trait CapabilityHandler: Send {
    /// Reads `data.len()` bytes at `offset` from the capability's header.
    fn read(&mut self, offset: u16, data: &mut [u8]);
    /// Writes `data` at `offset` from the capability's header.
    fn write(&mut self, offset: u16, data: &[u8]);
}
