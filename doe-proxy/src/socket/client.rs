//! A blocking client of the DOE socket: one request at a time, for `doectl --socket` and
//! tests.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::wire::{frame_length, Reply, Request, Status, WireError, LENGTH_BYTES};
use crate::pci_address::Bdf;

/// One function served by the socket, as LIST describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedFunction {
    /// Its host address, e.g. `0000:0d:00.0`.
    pub device: String,
    /// Vendor ID.
    pub vendor_id: u16,
    /// Device ID.
    pub device_id: u16,
    /// Class code (base class, subclass, programming interface).
    pub class: u32,
    /// The config-space offsets of the DOE mailboxes served.
    pub mailboxes: Vec<u16>,
}

/// Why a request through the socket gave no response object.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// Connecting failed.
    #[error("cannot connect to the DOE socket {path}: {source}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Reading or writing failed, or the server closed the connection.
    #[error("DOE socket {path}: {source}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The server sent something that is not a reply.
    #[error("DOE socket {path}: malformed reply: {source}")]
    Wire {
        /// The socket.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: WireError,
    },
    /// The reply is for another request.
    #[error("DOE socket {path}: reply tagged {got}, expected {expected}")]
    Tag {
        /// The socket.
        path: PathBuf,
        /// The tag sent.
        expected: u32,
        /// The tag received.
        got: u32,
    },
    /// The server answered with an error status.
    #[error("{}: {message}", status.name())]
    Refused {
        /// The status.
        status: Status,
        /// The server's explanation.
        message: String,
        /// An object that came with it (the SPDM ERROR of a denied SPDM request).
        object: Vec<u32>,
    },
}

/// A connection to a DOE socket.
#[derive(Debug)]
pub struct SocketClient {
    stream: UnixStream,
    path: PathBuf,
    next_tag: u32,
}

impl SocketClient {
    /// Connects to the socket at `path`; each reply is awaited at most `timeout` (the
    /// server answers every request, so this only guards against a wedged server).
    pub fn connect(path: &Path, timeout: Duration) -> Result<Self, SocketError> {
        let stream = UnixStream::connect(path).map_err(|source| SocketError::Connect {
            path: path.to_owned(),
            source,
        })?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .map_err(|source| SocketError::Connect {
                path: path.to_owned(),
                source,
            })?;
        Ok(SocketClient {
            stream,
            path: path.to_owned(),
            next_tag: 1,
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Exchanges `object` (a whole request data object) on the mailbox at `mailbox` of
    /// `function`; the response object, or the server's error.
    pub fn exchange(
        &mut self,
        function: Bdf,
        mailbox: u16,
        object: &[u32],
    ) -> Result<Vec<u32>, SocketError> {
        let tag = self.tag();
        let reply = self.call(&Request::exchange(tag, function, mailbox, object.to_vec()))?;
        Ok(reply.object)
    }

    /// The functions and mailboxes the server offers.
    pub fn list(&mut self) -> Result<Vec<ServedFunction>, SocketError> {
        let tag = self.tag();
        let reply = self.call(&Request::list(tag))?;
        serde_json::from_str(&reply.message).map_err(|e| SocketError::Io {
            path: self.path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, format!("LIST reply: {e}")),
        })
    }

    fn tag(&mut self) -> u32 {
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1);
        tag
    }

    /// Sends `request` and reads its reply (an OK one; any other status is the error).
    fn call(&mut self, request: &Request) -> Result<Reply, SocketError> {
        if let Err(e) = self.stream.write_all(&request.encode()) {
            // A server that refused the connection may have closed it before the request
            // was written: its refusal is still there to read.
            let closed = matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            );
            if closed {
                if let Ok(reply) = self.read_reply() {
                    if reply.status == Status::NotAllowed {
                        return Err(SocketError::Refused {
                            status: reply.status,
                            message: reply.message,
                            object: reply.object,
                        });
                    }
                }
            }
            return Err(SocketError::Io {
                path: self.path.clone(),
                source: e,
            });
        }
        let reply = self.read_reply()?;
        // A refusal of the whole connection comes with tag 0, before any request.
        if reply.tag != request.tag && reply.status != Status::NotAllowed {
            return Err(SocketError::Tag {
                path: self.path.clone(),
                expected: request.tag,
                got: reply.tag,
            });
        }
        if reply.status != Status::Ok {
            return Err(SocketError::Refused {
                status: reply.status,
                message: reply.message,
                object: reply.object,
            });
        }
        Ok(reply)
    }

    fn read_reply(&mut self) -> Result<Reply, SocketError> {
        let io_error = |source| SocketError::Io {
            path: self.path.clone(),
            source,
        };
        let mut prefix = [0u8; LENGTH_BYTES];
        self.stream.read_exact(&mut prefix).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                io_error(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ))
            } else {
                io_error(e)
            }
        })?;
        let wire_error = |source| SocketError::Wire {
            path: self.path.clone(),
            source,
        };
        let length = frame_length(prefix).map_err(wire_error)?;
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).map_err(io_error)?;
        Reply::decode(&body).map_err(wire_error)
    }
}

/// One mailbox reached through a [`SocketClient`]: what the protocol walks
/// ([`walk_discovery`](crate::exchange::walk_discovery),
/// [`read_cdat`](crate::cdat_read::read_cdat)) run on, as they do on the hardware.
#[derive(Debug)]
pub struct SocketMailbox<'a> {
    client: &'a mut SocketClient,
    function: Bdf,
    mailbox: u16,
}

impl<'a> SocketMailbox<'a> {
    /// The mailbox at `mailbox` of `function`, through `client`.
    pub fn new(client: &'a mut SocketClient, function: Bdf, mailbox: u16) -> Self {
        SocketMailbox {
            client,
            function,
            mailbox,
        }
    }
}

impl crate::exchange::ObjectExchange for SocketMailbox<'_> {
    type Error = SocketError;

    fn exchange(&mut self, request: &[u32]) -> Result<Vec<u32>, SocketError> {
        self.client.exchange(self.function, self.mailbox, request)
    }
}
