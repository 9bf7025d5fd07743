//! New records of the kernel log, read from `/dev/kmsg` (Documentation/ABI/testing/
//! dev-kmsg): each `read` returns one record, `prefix;text\n` followed by optional
//! continuation lines; a reader that fell behind gets `EPIPE` once and goes on with the
//! oldest record still kept.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use crate::wait::wait_readable;

/// The kernel log device.
const KMSG: &str = "/dev/kmsg";
/// Larger than any record (the kernel's limit is 1 KiB of text plus its prefix), as a
/// read with a smaller buffer fails with `EINVAL`.
const RECORD_BUF: usize = 8192;

/// A reader of the kernel log that sees only records logged after it was opened.
pub struct KernelLog {
    file: File,
}

/// The text of one record (`6,1234,5678,-;text\n KEY=value`): what follows the first `;`,
/// up to the end of its first line.
pub fn record_text(record: &str) -> Option<&str> {
    let (_, rest) = record.split_once(';')?;
    Some(rest.lines().next().unwrap_or(""))
}

impl KernelLog {
    /// Opens `/dev/kmsg` (needs root) positioned after the last record.
    pub fn open() -> Result<KernelLog, String> {
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(KMSG)
            .map_err(|e| format!("cannot open {KMSG}: {e}"))?;
        file.seek(SeekFrom::End(0))
            .map_err(|e| format!("cannot seek to the end of {KMSG}: {e}"))?;
        Ok(KernelLog { file })
    }

    /// The texts of every record logged since the last call, in order.
    fn drain(&mut self) -> Result<Vec<String>, String> {
        let mut texts = Vec::new();
        let mut buf = vec![0u8; RECORD_BUF];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => return Ok(texts),
                Ok(n) => {
                    let record = String::from_utf8_lossy(&buf[..n]);
                    if let Some(text) = record_text(&record) {
                        texts.push(text.to_owned());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(texts),
                // Records were overwritten before we read them; the next read goes on.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("cannot read {KMSG}: {e}")),
            }
        }
    }

    /// Waits up to `timeout` for a new record whose text satisfies `wanted` and returns
    /// that text (`None` on timeout); records before it are skipped.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Option<String>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(text) = self.drain()?.into_iter().find(|t| wanted(t)) {
                return Ok(Some(text));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !wait_readable(&self.file, left, KMSG)? {
                return Ok(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_texts_are_cut_from_their_prefix() {
        let r = "6,1234,4158503,-;Spurious interrupt (vector 0xf5) on CPU#0. Acked\n";
        assert_eq!(
            record_text(r),
            Some("Spurious interrupt (vector 0xf5) on CPU#0. Acked")
        );
        let dict = "4,7,100,-;pci 0000:00:01.0: x\n SUBSYSTEM=pci\n DEVICE=+pci:0000:00:01.0\n";
        assert_eq!(record_text(dict), Some("pci 0000:00:01.0: x"));
        assert_eq!(record_text("6,1,2,-;\n"), Some(""));
        assert_eq!(record_text("no prefix"), None);
    }
}
