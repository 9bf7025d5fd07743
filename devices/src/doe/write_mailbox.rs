//! The Write Data Mailbox: a request object assembled dword by dword, its length
//! checked the moment its header's length dword arrives, so that nothing beyond one
//! object of the configured maximum is ever buffered.

use doe_proxy::protocol::header::HEADER_DWORDS;
use doe_proxy::protocol::DataObjectHeader;

/// Index of the header dword that carries the length.
const LENGTH_DWORD: usize = 1;

/// Why the object in the write mailbox is dropped at Go (PCIe r6.0 §6.30.1: an object
/// whose dwords do not match its Length is silently discarded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Discard {
    /// Go with nothing written.
    #[error("Go with an empty write mailbox")]
    Empty,
    /// Go before the whole header was written.
    #[error("Go after {0} dword(s), before a whole header")]
    NoHeader(usize),
    /// The length field is 1 (cannot hold its own header).
    #[error("length field below the 2-dword header")]
    LengthTooSmall,
    /// The header announces more than the mailbox accepts.
    #[error("header announces {announced} dwords, more than the limit of {limit}")]
    TooLong {
        /// Dwords announced.
        announced: usize,
        /// The mailbox's limit.
        limit: usize,
    },
    /// More dwords were written than the header announced.
    #[error("more dwords written than the {announced} announced")]
    Overrun {
        /// Dwords announced.
        announced: usize,
    },
    /// Go before all announced dwords were written.
    #[error("Go after {written} of {announced} announced dwords")]
    Incomplete {
        /// Dwords announced.
        announced: usize,
        /// Dwords written.
        written: usize,
    },
}

/// The write side of the mailbox.
#[derive(Debug, Default)]
pub(super) enum WriteMailbox {
    /// Nothing written since the last Go or Abort.
    #[default]
    Empty,
    /// An object being written.
    Filling {
        /// The dwords so far.
        dwords: Vec<u32>,
        /// The length from the header, once its length dword is written.
        announced: Option<usize>,
    },
    /// The object was found bad while being written; the rest of it is dropped and
    /// Go discards it.
    Discarding(Discard),
}

impl WriteMailbox {
    /// Appends `dword`; an object longer than `limit` (announced or actual) is dropped
    /// at once and its buffer freed.
    pub(super) fn push(&mut self, dword: u32, limit: usize) {
        match self {
            WriteMailbox::Empty => {
                *self = WriteMailbox::Filling {
                    dwords: vec![dword],
                    announced: None,
                }
            }
            WriteMailbox::Filling { dwords, announced } => {
                if dwords.len() == LENGTH_DWORD {
                    match check_length(dword, limit) {
                        Ok(length) => {
                            dwords.reserve_exact(length - dwords.len());
                            *announced = Some(length);
                        }
                        Err(discard) => {
                            *self = WriteMailbox::Discarding(discard);
                            return;
                        }
                    }
                } else if let Some(length) = *announced {
                    if dwords.len() == length {
                        *self = WriteMailbox::Discarding(Discard::Overrun { announced: length });
                        return;
                    }
                }
                dwords.push(dword);
            }
            WriteMailbox::Discarding(_) => {}
        }
    }

    /// Takes the object for Go: the whole object exactly as announced, or why it is
    /// discarded. The mailbox is empty afterwards either way.
    pub(super) fn take(&mut self) -> Result<Vec<u32>, Discard> {
        match std::mem::take(self) {
            WriteMailbox::Empty => Err(Discard::Empty),
            WriteMailbox::Discarding(discard) => Err(discard),
            WriteMailbox::Filling { dwords, announced } => match announced {
                None => Err(Discard::NoHeader(dwords.len())),
                Some(announced) if announced != dwords.len() => Err(Discard::Incomplete {
                    announced,
                    written: dwords.len(),
                }),
                Some(_) => Ok(dwords),
            },
        }
    }

    /// Empties the mailbox and frees its buffer (Abort).
    pub(super) fn clear(&mut self) {
        *self = WriteMailbox::Empty;
    }

    /// Dwords of memory held (for tests of the buffering bound).
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        match self {
            WriteMailbox::Filling { dwords, .. } => dwords.capacity(),
            _ => 0,
        }
    }
}

/// The object length from its length dword, if the mailbox accepts it.
fn check_length(dw1: u32, limit: usize) -> Result<usize, Discard> {
    match DataObjectHeader::decode_length(dw1) {
        // The only length decode_length refuses is 1.
        Err(_) => Err(Discard::LengthTooSmall),
        Ok(announced) if announced > limit => Err(Discard::TooLong { announced, limit }),
        Ok(announced) => {
            debug_assert!(announced >= HEADER_DWORDS);
            Ok(announced)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 8;

    fn written(dwords: &[u32]) -> WriteMailbox {
        let mut mailbox = WriteMailbox::default();
        for &dword in dwords {
            mailbox.push(dword, LIMIT);
        }
        mailbox
    }

    #[test]
    fn a_whole_object_is_taken_once() {
        let mut mailbox = written(&[0x0001_0001, 3, 7]);
        assert_eq!(mailbox.capacity(), 3);
        assert_eq!(mailbox.take(), Ok(vec![0x0001_0001, 3, 7]));
        assert_eq!(mailbox.take(), Err(Discard::Empty));
    }

    #[test]
    fn bad_lengths_are_caught_as_they_are_written() {
        assert_eq!(written(&[]).take(), Err(Discard::Empty));
        assert_eq!(written(&[1]).take(), Err(Discard::NoHeader(1)));
        assert_eq!(written(&[1, 1, 0]).take(), Err(Discard::LengthTooSmall));
        // 0 means 2^18, far above the limit.
        assert_eq!(
            written(&[1, 0]).take(),
            Err(Discard::TooLong {
                announced: 1 << 18,
                limit: LIMIT
            })
        );
        let mut long = written(&[1, 9]);
        for dword in 0..100 {
            long.push(dword, LIMIT);
            assert_eq!(
                long.capacity(),
                0,
                "nothing is buffered for a discarded object"
            );
        }
        assert_eq!(
            written(&[1, 3, 0, 0]).take(),
            Err(Discard::Overrun { announced: 3 })
        );
        assert_eq!(
            written(&[1, 4, 0]).take(),
            Err(Discard::Incomplete {
                announced: 4,
                written: 3
            })
        );
    }

    #[test]
    fn the_buffer_never_exceeds_the_announced_length() {
        let mut mailbox = written(&[1, LIMIT as u32]);
        for dword in 0..LIMIT as u32 * 4 {
            mailbox.push(dword, LIMIT);
            assert!(mailbox.capacity() <= LIMIT);
        }
        mailbox.clear();
        assert_eq!(mailbox.capacity(), 0);
    }
}
