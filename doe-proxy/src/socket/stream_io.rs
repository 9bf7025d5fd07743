//! Non-blocking I/O on a server's connections, shared by the DOE socket server and `vmm`'s
//! control socket: reads that never wait, replies queued per connection and written as far
//! as the peer accepts, and the one best-effort write of a refusal.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

/// Replies waiting to be written to one connection, oldest first.
#[derive(Debug, Default)]
pub struct OutBuffer {
    messages: VecDeque<Vec<u8>>,
    /// Bytes of the first message already written.
    written: usize,
    /// Bytes not written yet, over every message.
    bytes: usize,
}

/// Where a [`OutBuffer::flush`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flushed {
    /// Everything is written.
    All,
    /// The peer accepts no more for now: write again when it is writable.
    Partly,
    /// The peer is gone (a write failed); the buffer was emptied.
    Gone,
}

impl OutBuffer {
    /// Queues `message` behind the others.
    pub fn push(&mut self, message: Vec<u8>) {
        self.bytes += message.len();
        self.messages.push_back(message);
    }

    /// Messages not (completely) written.
    pub fn messages(&self) -> usize {
        self.messages.len()
    }

    /// Bytes not written.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// True if nothing waits.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.messages.clear();
        self.written = 0;
        self.bytes = 0;
    }

    /// Writes to `out` (non-blocking) until everything is written or it would block.
    pub fn flush<W: Write>(&mut self, out: &mut W) -> Flushed {
        while let Some(message) = self.messages.front() {
            match out.write(&message[self.written..]) {
                Ok(0) => {
                    self.clear();
                    return Flushed::Gone;
                }
                Ok(n) => {
                    self.written += n;
                    self.bytes -= n;
                    if self.written == message.len() {
                        self.messages.pop_front();
                        self.written = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flushed::Partly,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // The peer is gone: nothing it asked can reach it any more.
                    self.clear();
                    return Flushed::Gone;
                }
            }
        }
        Flushed::All
    }
}

/// What one [`read_some`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadSome {
    /// This many bytes, at the start of the buffer.
    Data(usize),
    /// The peer will send nothing more (end of file).
    End,
    /// Nothing to read now.
    Empty,
    /// The read failed: the peer is gone.
    Gone,
}

/// One non-blocking read into `buf`.
pub fn read_some<R: Read>(input: &mut R, buf: &mut [u8]) -> ReadSome {
    loop {
        return match input.read(buf) {
            Ok(0) => ReadSome::End,
            Ok(n) => ReadSome::Data(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => ReadSome::Empty,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => ReadSome::Gone,
        };
    }
}

/// Writes `message` once to a non-blocking stream, as far as it accepts without waiting:
/// the reason of a refusal, just before the connection is closed. True if all of it went.
pub fn send_once<W: Write>(out: &mut W, message: &[u8]) -> bool {
    matches!(out.write(message), Ok(n) if n == message.len())
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use super::*;

    #[test]
    fn a_peer_that_does_not_read_leaves_the_rest_queued() {
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let mut out = OutBuffer::default();
        // Far more than a socket buffer holds.
        for _ in 0..64 {
            out.push(vec![7u8; 64 * 1024]);
        }
        assert_eq!(out.bytes(), 64 * 64 * 1024);
        assert_eq!(out.flush(&mut ours), Flushed::Partly);
        let left = out.bytes();
        assert!(left > 0 && left < 64 * 64 * 1024, "{left}");
        // The peer reads everything; the rest goes out as it does.
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            theirs.read_to_end(&mut all).unwrap();
            all.len()
        });
        while out.flush(&mut ours) != Flushed::All {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(out.is_empty());
        assert_eq!(out.bytes(), 0);
        drop(ours);
        assert_eq!(reader.join().unwrap(), 64 * 64 * 1024);
    }

    #[test]
    fn a_gone_peer_empties_the_buffer() {
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        drop(theirs);
        let mut out = OutBuffer::default();
        out.push(b"reply\n".to_vec());
        assert_eq!(out.flush(&mut ours), Flushed::Gone);
        assert!(out.is_empty());
        assert!(!send_once(&mut ours, b"refused\n"));
    }

    #[test]
    fn reads_never_wait() {
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(read_some(&mut ours, &mut buf), ReadSome::Empty);
        theirs.write_all(b"stats\n").unwrap();
        assert_eq!(read_some(&mut ours, &mut buf), ReadSome::Data(6));
        assert_eq!(&buf[..6], b"stats\n");
        drop(theirs);
        assert_eq!(read_some(&mut ours, &mut buf), ReadSome::End);
    }
}
