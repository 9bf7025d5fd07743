//! The Read Data Mailbox: the response object, read a dword at a time and popped by a
//! write.

/// The read side of the mailbox. Data Object Ready is "an object is here".
#[derive(Debug, Default)]
pub(super) struct ReadMailbox {
    object: Vec<u32>,
    index: usize,
}

/// A pop with no object ready (the guest read past the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Underflow;

impl ReadMailbox {
    /// Holds `object` for the guest to read (replacing anything unread).
    pub(super) fn publish(&mut self, object: Vec<u32>) {
        self.object = object;
        self.index = 0;
    }

    /// Data Object Ready.
    pub(super) fn ready(&self) -> bool {
        self.index < self.object.len()
    }

    /// The current dword, 0 when nothing is ready. Reading has no side effect.
    pub(super) fn current(&self) -> u32 {
        self.object.get(self.index).copied().unwrap_or(0)
    }

    /// Moves to the next dword; after the last one the object is gone (Ready clears).
    pub(super) fn pop(&mut self) -> Result<(), Underflow> {
        if !self.ready() {
            return Err(Underflow);
        }
        self.index += 1;
        if !self.ready() {
            self.clear();
        }
        Ok(())
    }

    /// Drops the object and frees its buffer.
    pub(super) fn clear(&mut self) {
        self.object = Vec::new();
        self.index = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_and_pop_to_the_end_then_underflow() {
        let mut mailbox = ReadMailbox::default();
        assert!(!mailbox.ready());
        assert_eq!(mailbox.current(), 0);
        mailbox.publish(vec![5, 6]);
        assert!(mailbox.ready());
        assert_eq!(mailbox.current(), 5);
        assert_eq!(mailbox.current(), 5, "reads do not advance");
        mailbox.pop().unwrap();
        assert_eq!(mailbox.current(), 6);
        mailbox.pop().unwrap();
        assert!(!mailbox.ready());
        assert_eq!(mailbox.current(), 0);
        assert_eq!(mailbox.pop(), Err(Underflow));
    }
}
