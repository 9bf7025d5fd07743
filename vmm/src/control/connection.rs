//! One client of the control socket: its partial request line, its answers waiting to be
//! written, and what the event loop should watch it for. Nothing here blocks: the stream
//! is non-blocking, requests are read as they come, and answers go out as far as the
//! client reads them (doe-proxy's [`OutBuffer`]).

use std::os::unix::net::UnixStream;

use doe_proxy::socket::stream_io::{read_some, Flushed, OutBuffer, ReadSome};
use event_manager::EventSet;

use super::protocol::{answer, error_line, MAX_LINE};
use super::Control;

/// Bytes read from a client at a time.
const READ_CHUNK: usize = 4096;
/// Reads per turn of the loop, so a client that keeps sending cannot hold the loop; the
/// loop comes back while it has more (level-triggered).
const READS_PER_TURN: usize = 16;

/// What [`Connection::read`] left the connection as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterRead {
    /// Still open (or closing once its answers are written).
    Open,
    /// Its unread answers passed the bound: the client does not read them; drop it.
    Overflowed,
}

/// One client connection.
#[derive(Debug)]
pub(super) struct Connection {
    stream: UnixStream,
    /// Bytes read and not yet a whole line.
    input: Vec<u8>,
    out: OutBuffer,
    /// The interest registered with the loop.
    pub(super) interest: EventSet,
    /// The client sent its last request (end of file, or a line too long): nothing more is
    /// read; the connection closes once its answers are written.
    read_closed: bool,
    /// The client is gone (hung up, or a read or write failed): close at once.
    gone: bool,
}

impl Connection {
    /// The interest a new connection starts with.
    pub(super) const INITIAL_INTEREST: EventSet = EventSet::IN.union(EventSet::READ_HANG_UP);

    /// A connection on `stream` (non-blocking).
    pub(super) fn new(stream: UnixStream) -> Self {
        Connection {
            stream,
            input: Vec::new(),
            out: OutBuffer::default(),
            interest: Self::INITIAL_INTEREST,
            read_closed: false,
            gone: false,
        }
    }

    /// The stream, to (un)register it with the loop.
    pub(super) fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// Reads what the client sent (a bounded number of chunks), answers every complete
    /// line and writes what the client accepts. More than `max_output` bytes of answers
    /// unread is [`AfterRead::Overflowed`].
    pub(super) fn read(&mut self, target: &dyn Control, max_output: usize) -> AfterRead {
        let mut buf = [0u8; READ_CHUNK];
        for _ in 0..READS_PER_TURN {
            if self.read_closed || self.gone {
                break;
            }
            match read_some(&mut self.stream, &mut buf) {
                ReadSome::Data(n) => {
                    self.input.extend_from_slice(&buf[..n]);
                    self.answer_lines(target);
                    self.flush();
                    if self.out.bytes() > max_output {
                        return AfterRead::Overflowed;
                    }
                }
                ReadSome::End => self.read_closed = true,
                ReadSome::Empty => break,
                ReadSome::Gone => self.gone = true,
            }
        }
        AfterRead::Open
    }

    /// Answers every complete line of the input. A line longer than [`MAX_LINE`], whole
    /// or not, is answered with an error and ends the reading (the stream is out of step).
    fn answer_lines(&mut self, target: &dyn Control) {
        loop {
            let newline = self.input.iter().position(|&b| b == b'\n');
            let length = newline.unwrap_or(self.input.len());
            if length > MAX_LINE {
                self.queue(error_line(&format!("command longer than {MAX_LINE} bytes")));
                self.input.clear();
                self.read_closed = true;
                return;
            }
            let Some(end) = newline else {
                return;
            };
            let line: Vec<u8> = self.input.drain(..=end).collect();
            let reply = match std::str::from_utf8(&line[..end]) {
                Ok(text) => answer(text, target),
                Err(_) => error_line("the command is not UTF-8"),
            };
            self.queue(reply);
        }
    }

    /// Queues `reply` and its newline.
    fn queue(&mut self, reply: String) {
        let mut bytes = reply.into_bytes();
        bytes.push(b'\n');
        self.out.push(bytes);
    }

    /// Writes what the client accepts now.
    pub(super) fn flush(&mut self) {
        if self.out.flush(&mut self.stream) == Flushed::Gone {
            self.gone = true;
        }
    }

    /// The client hung up or failed.
    pub(super) fn hang_up(&mut self) {
        self.gone = true;
    }

    /// True once the connection should be closed: the client is gone, or it sent its
    /// last request and every answer is written.
    pub(super) fn is_done(&self) -> bool {
        self.gone || (self.read_closed && self.out.is_empty())
    }

    /// Bytes of answers the client has not read.
    pub(super) fn unread(&self) -> usize {
        self.out.bytes()
    }

    /// What the loop should watch: input while reading (a half-closed client keeps
    /// READ_HANG_UP raised, so it is only asked for then), writability while answers wait.
    pub(super) fn wanted_interest(&self) -> EventSet {
        let mut interest = EventSet::empty();
        if !self.read_closed {
            interest |= Self::INITIAL_INTEREST;
        }
        if !self.out.is_empty() {
            interest |= EventSet::OUT;
        }
        interest
    }
}
