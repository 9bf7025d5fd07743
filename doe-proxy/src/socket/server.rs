//! The DOE socket server: an event-manager subscriber (so it runs in `vmm`'s event loop
//! as in `doe-proxyd`'s) that accepts host users on a Unix socket, judges each request
//! ([`DoeService`]) and submits the allowed ones to the mailbox's mediator, each
//! connection as its own mediator client.
//!
//! Nothing here blocks: sockets are non-blocking; results arrive on the mediators'
//! threads, which queue the encoded reply on the connection and wake the loop through an
//! eventfd; the loop writes what the peer accepts and keeps the rest. A connection with
//! [`ServerConfig::max_outstanding`] requests unanswered or replies unread is not read
//! from until it catches up, so a slow reader costs only its own memory (bounded) and
//! never blocks another client, the loop or the VMM.

use std::collections::HashMap;
use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use log::{debug, info, warn};
use policies::{ClientIdentity, ConnectionRefusal};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use super::listener::{BindError, BoundSocket};
use super::peer::{peer_credentials, peer_identity};
use super::service::{status_of, DoeService, Judgement};
use super::stream_io::{read_some, send_once, Flushed, OutBuffer, ReadSome};
use super::wire::{frame_length, Op, Reply, Request, Status, LENGTH_BYTES};
use crate::mediator::{Completion, ExchangeResult, MediatorClient, SubmissionId};

/// The socket's file mode unless configured: owner and group may connect.
pub const DEFAULT_SOCKET_MODE: u32 = 0o660;
/// Connections served at once unless configured.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// Requests a connection may have unanswered or replies unread unless configured.
pub const DEFAULT_MAX_OUTSTANDING: usize = 32;

/// `data` of the listener's events.
const LISTENER: u32 = 0;
/// `data` of the wake eventfd's events.
const WAKE: u32 = 1;
/// The first connection's `data`.
const FIRST_CONNECTION: u32 = 2;
/// Bytes read from a connection at a time.
const READ_CHUNK: usize = 64 * 1024;

pub use super::listener::parse_socket_mode;

/// How the server listens.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The socket's path.
    pub path: PathBuf,
    /// Its file mode (permission bits).
    pub mode: u32,
    /// Connections served at once; one more is refused with [`Status::NotAllowed`].
    pub max_connections: usize,
    /// Per connection: requests unanswered plus replies unread before it is no longer
    /// read from.
    pub max_outstanding: usize,
}

impl ServerConfig {
    /// The defaults at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ServerConfig {
            path: path.into(),
            mode: DEFAULT_SOCKET_MODE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_outstanding: DEFAULT_MAX_OUTSTANDING,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Another process listens on the path.
    #[error("{0}: another process is listening on this socket")]
    InUse(PathBuf),
    /// The socket could not be bound (the path is not a socket, bad, or a system call
    /// failed).
    #[error("{path}: {source}")]
    Bind {
        /// The socket's path.
        path: PathBuf,
        /// Why.
        #[source]
        source: BindError,
    },
    /// Creating the eventfd failed.
    #[error("{path}: {source}")]
    Io {
        /// The socket's path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// Replies waiting to be written, shared between the loop and the mediators' threads.
#[derive(Debug, Default)]
struct Outbox {
    /// Encoded reply frames, oldest first; the first may be partly written.
    frames: OutBuffer,
    /// Tag of each submission in flight, per mailbox index.
    tags: HashMap<(usize, SubmissionId), u32>,
}

/// One connection's state shared with its sinks.
#[derive(Debug)]
struct Shared {
    outbox: Mutex<Outbox>,
    wake: Arc<EventFd>,
}

impl Shared {
    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, reply: &Reply) {
        self.outbox().frames.push(reply.encode());
    }
}

/// Where a mediator delivers one connection's results on one mailbox.
struct Sink {
    shared: Arc<Shared>,
    index: usize,
}

impl Completion for Sink {
    fn complete(&self, submission: SubmissionId, result: ExchangeResult) {
        {
            let mut outbox = self.shared.outbox();
            let Some(tag) = outbox.tags.remove(&(self.index, submission)) else {
                return;
            };
            let reply = match result {
                Ok(object) => Reply {
                    tag,
                    status: Status::Ok,
                    object,
                    message: String::new(),
                },
                Err(e) => Reply::error(tag, status_of(&e), e.to_string()),
            };
            outbox.frames.push(reply.encode());
        }
        let _ = self.shared.wake.write(1);
    }
}

/// One host user's connection.
struct Connection {
    stream: UnixStream,
    identity: ClientIdentity,
    /// Bytes read and not yet a whole frame.
    input: Vec<u8>,
    /// Its mediator clients, per mailbox index, registered at its first request there.
    clients: Vec<Option<MediatorClient>>,
    shared: Arc<Shared>,
    /// The interest registered with the loop.
    interest: EventSet,
    /// The peer sent its last request (end of file, or a framing error): nothing more
    /// is read; the connection closes once every reply is written.
    read_closed: bool,
    /// The peer is gone (hung up, or a read or write failed): close at once.
    gone: bool,
}

impl Connection {
    fn outstanding(&self) -> usize {
        let outbox = self.shared.outbox();
        outbox.tags.len() + outbox.frames.messages()
    }
}

/// The DOE socket server (see the module documentation).
pub struct DoeSocketServer {
    socket: BoundSocket,
    config: ServerConfig,
    service: Arc<DoeService>,
    wake: Arc<EventFd>,
    connections: HashMap<u32, Connection>,
    next_id: u32,
}

impl std::fmt::Debug for DoeSocketServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DoeSocketServer")
            .field("path", &self.config.path)
            .field("connections", &self.connections.len())
            .finish_non_exhaustive()
    }
}

impl DoeSocketServer {
    /// Binds the socket (mode [`ServerConfig::mode`]) for `service`.
    pub fn bind(config: ServerConfig, service: Arc<DoeService>) -> Result<Self, ServerError> {
        let socket = BoundSocket::bind(&config.path, config.mode).map_err(|e| match e {
            BindError::InUse => ServerError::InUse(config.path.clone()),
            source => ServerError::Bind {
                path: config.path.clone(),
                source,
            },
        })?;
        let wake = EventFd::new(EFD_NONBLOCK).map_err(|source| ServerError::Io {
            path: config.path.clone(),
            source,
        })?;
        let wake = Arc::new(wake);
        info!(
            "DOE socket {} serving {} mailbox(es)",
            config.path.display(),
            service.mailboxes().len()
        );
        Ok(DoeSocketServer {
            socket,
            config,
            service,
            wake,
            connections: HashMap::new(),
            next_id: FIRST_CONNECTION,
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.config.path
    }

    fn accept(&mut self, ops: &mut EventOps) {
        loop {
            match self.socket.accept() {
                Ok(Some(stream)) => self.admit(stream, ops),
                Ok(None) => return,
                Err(e) => {
                    crate::warn_ratelimited!("DOE socket: accept failed: {e}");
                    return;
                }
            }
        }
    }

    /// Takes a new connection, or refuses it with one reply and one audit record.
    fn admit(&mut self, mut stream: UnixStream, ops: &mut EventOps) {
        let identity = match peer_credentials(&stream) {
            Ok(credentials) => peer_identity(credentials),
            Err(e) => {
                crate::warn_ratelimited!("DOE socket: cannot read a peer's credentials: {e}");
                return;
            }
        };
        let refusal = if self.connections.len() >= self.config.max_connections {
            Some(format!(
                "too many connections (limit {}); try again later",
                self.config.max_connections
            ))
        } else if !self.service.admits(&identity) {
            let detail = format!(
                "no rule of the policy ({}) allows {identity} any DOE protocol on the mailboxes served here",
                self.service.admin().origin()
            );
            self.service.admin().audit_refused_connection(
                &identity,
                &self.config.path.display().to_string(),
                ConnectionRefusal::NoMatchingRule,
                &detail,
            );
            Some(detail)
        } else {
            None
        };
        if let Some(message) = refusal {
            debug!("DOE socket: refused {identity}: {message}");
            // Best effort, never waiting: the peer may read the reason; the connection
            // closes anyway.
            send_once(
                &mut stream,
                &Reply::error(0, Status::NotAllowed, message).encode(),
            );
            return;
        }
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(FIRST_CONNECTION);
        let interest = EventSet::IN | EventSet::READ_HANG_UP;
        if let Err(e) = ops.add(Events::with_data(&stream, id, interest)) {
            crate::warn_ratelimited!("DOE socket: cannot watch a connection: {e}");
            return;
        }
        debug!("DOE socket: {identity} connected");
        let shared = Arc::new(Shared {
            outbox: Mutex::new(Outbox::default()),
            wake: self.wake.clone(),
        });
        self.connections.insert(
            id,
            Connection {
                stream,
                identity,
                input: Vec::new(),
                clients: (0..self.service.mailboxes().len()).map(|_| None).collect(),
                shared,
                interest,
                read_closed: false,
                gone: false,
            },
        );
    }

    /// Reads what the connection sent and handles every whole request, as far as its
    /// outstanding budget allows.
    fn read(&mut self, id: u32) {
        let max_outstanding = self.config.max_outstanding;
        let Some(conn) = self.connections.get_mut(&id) else {
            return;
        };
        let mut buf = vec![0u8; READ_CHUNK];
        while !conn.read_closed && !conn.gone && conn.outstanding() < max_outstanding {
            match read_some(&mut conn.stream, &mut buf) {
                ReadSome::Data(n) => conn.input.extend_from_slice(&buf[..n]),
                ReadSome::End => conn.read_closed = true,
                ReadSome::Empty => break,
                ReadSome::Gone => conn.gone = true,
            }
            handle_frames(&self.service, conn, max_outstanding);
        }
    }

    /// Writes what the connection's peer accepts; records whether more is left.
    fn flush(conn: &mut Connection) {
        let flushed = conn.shared.outbox().frames.flush(&mut conn.stream);
        if flushed == Flushed::Gone {
            conn.gone = true;
        }
    }

    /// Brings connection `id` up to date: handles what it already sent if its budget
    /// allows, writes what is queued, closes it when done, and sets its interest (read
    /// while under budget, write while replies wait).
    fn service_connection(&mut self, id: u32, ops: &mut EventOps) {
        let max_outstanding = self.config.max_outstanding;
        let Some(conn) = self.connections.get_mut(&id) else {
            return;
        };
        Self::flush(conn);
        handle_frames(&self.service, conn, max_outstanding);
        Self::flush(conn);
        let (pending_replies, in_flight) = {
            let outbox = conn.shared.outbox();
            (!outbox.frames.is_empty(), !outbox.tags.is_empty())
        };
        if conn.gone || (conn.read_closed && !pending_replies && !in_flight) {
            // Its queued requests are cancelled (dropping its clients frees its places
            // in the mediators' queues); what is on a device finishes there unanswered.
            let _ = ops.remove(Events::empty(&conn.stream));
            debug!("DOE socket: {} disconnected", conn.identity);
            self.connections.remove(&id);
            return;
        }
        // Level-triggered: a half-closed peer keeps READ_HANG_UP raised, so it is only
        // asked for while reading. A full hang-up is always reported.
        let mut interest = EventSet::empty();
        if !conn.read_closed && conn.outstanding() < max_outstanding {
            interest |= EventSet::IN | EventSet::READ_HANG_UP;
        }
        if pending_replies {
            interest |= EventSet::OUT;
        }
        if interest != conn.interest {
            conn.interest = interest;
            let _ = ops.modify(Events::with_data(&conn.stream, id, interest));
        }
    }
}

/// Handles every whole request in `conn.input` while the connection is under budget.
fn handle_frames(service: &DoeService, conn: &mut Connection, max_outstanding: usize) {
    loop {
        if conn.read_closed || conn.gone || conn.outstanding() >= max_outstanding {
            return;
        }
        if conn.input.len() < LENGTH_BYTES {
            return;
        }
        let prefix = [conn.input[0], conn.input[1], conn.input[2], conn.input[3]];
        let length = match frame_length(prefix) {
            Ok(length) => length,
            Err(e) => {
                // The stream is out of step: say why and stop reading it.
                conn.shared
                    .push(&Reply::error(0, Status::BadRequest, e.to_string()));
                conn.input.clear();
                conn.read_closed = true;
                return;
            }
        };
        if conn.input.len() < LENGTH_BYTES + length {
            return;
        }
        let body: Vec<u8> = conn
            .input
            .drain(..LENGTH_BYTES + length)
            .skip(LENGTH_BYTES)
            .collect();
        handle_request(service, conn, &body);
    }
}

/// Handles one request body: exactly one reply now, or one submission whose result is
/// the reply.
fn handle_request(service: &DoeService, conn: &mut Connection, body: &[u8]) {
    let request = match Request::decode(body) {
        Ok(request) => request,
        Err(e) => {
            let tag = Request::tag_of(body).unwrap_or(0);
            conn.shared
                .push(&Reply::error(tag, Status::BadRequest, e.to_string()));
            return;
        }
    };
    let tag = request.tag;
    if request.op == Op::List {
        let reply = match serde_json::to_string(&service.listing()) {
            Ok(json) => Reply::error(tag, Status::Ok, json),
            Err(e) => Reply::error(tag, Status::Internal, e.to_string()),
        };
        conn.shared.push(&reply);
        return;
    }
    let index = match service.judge(
        &conn.identity,
        request.function,
        request.mailbox,
        &request.object,
    ) {
        Judgement::Answer(answer) => {
            conn.shared.push(&Reply {
                tag,
                status: answer.status,
                object: answer.object,
                message: answer.message,
            });
            return;
        }
        Judgement::Submit { index } => index,
    };
    if conn.clients[index].is_none() {
        let served = &service.mailboxes()[index];
        let sink = Arc::new(Sink {
            shared: conn.shared.clone(),
            index,
        });
        match served.mediator.register(conn.identity.to_string(), sink) {
            Ok(client) => conn.clients[index] = Some(client),
            Err(e) => {
                conn.shared
                    .push(&Reply::error(tag, status_of(&e), e.to_string()));
                return;
            }
        }
    }
    let Some(client) = &conn.clients[index] else {
        return;
    };
    // The tag is recorded before the result can arrive: the sink takes the outbox lock
    // to find it, and the submission is made under that lock (the mediator calls sinks
    // with none of its own locks held, so this order cannot deadlock).
    let mut outbox = conn.shared.outbox();
    match client.submit(request.object) {
        Ok(submission) => {
            outbox.tags.insert((index, submission), tag);
        }
        Err(e) => {
            outbox
                .frames
                .push(Reply::error(tag, status_of(&e), e.to_string()).encode());
        }
    }
}

impl MutEventSubscriber for DoeSocketServer {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::with_data(&self.socket, LISTENER, EventSet::IN)) {
            warn!(
                "DOE socket {}: cannot watch the listener: {e}",
                self.config.path.display()
            );
        }
        if let Err(e) = ops.add(Events::with_data(self.wake.as_ref(), WAKE, EventSet::IN)) {
            warn!(
                "DOE socket {}: cannot watch its eventfd: {e}",
                self.config.path.display()
            );
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        match events.data() {
            LISTENER => self.accept(ops),
            WAKE => {
                let _ = self.wake.read();
                let ids: Vec<u32> = self.connections.keys().copied().collect();
                for id in ids {
                    self.service_connection(id, ops);
                }
            }
            id => {
                let set = events.event_set();
                if set.intersects(EventSet::IN | EventSet::READ_HANG_UP) {
                    self.read(id);
                }
                if set.intersects(EventSet::HANG_UP | EventSet::ERROR) {
                    if let Some(conn) = self.connections.get_mut(&id) {
                        conn.gone = true;
                    }
                }
                self.service_connection(id, ops);
            }
        }
    }
}
