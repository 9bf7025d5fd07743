//! The control socket's event-loop subscriber: accepts the admin's clients, checks who
//! they are, and answers their request lines ([`super::protocol`]).
//!
//! The socket is bound on the main thread before its seccomp filter
//! ([`BoundSocket`]: mode set before it listens, a stale socket replaced, a live one
//! refused, the file removed at the end). Nothing here blocks the loop: every connection
//! is non-blocking, requests are read as they arrive, answers are queued per connection and
//! written when the client can take them (EPOLLOUT). A client whose unread answers pass
//! [`ControlLimits::max_output`] bytes is dropped, and at most
//! [`ControlLimits::max_connections`] are served at once, so a client that never reads
//! costs a bounded amount of memory and never delays another.
//!
//! A peer whose uid [`ControlAccess`] refuses gets one `error:` line if the socket takes it
//! without waiting, is closed, and leaves one audit record (`"event":"connection-refused"`,
//! `"reason":"peer-not-allowed"`).

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use doe_proxy::socket::peer::peer_credentials;
use doe_proxy::socket::stream_io::send_once;
use doe_proxy::socket::BoundSocket;
use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use policies::ClientIdentity;

use super::access::ControlAccess;
use super::connection::{AfterRead, Connection};
use super::protocol::error_line;
use super::Control;

/// The control socket's file mode unless configured (`--api-socket-mode`): its owner only.
pub const DEFAULT_CONTROL_SOCKET_MODE: u32 = 0o600;

/// `data` of the listener's events.
const LISTENER: u32 = 0;
/// The first connection's `data`.
const FIRST_CONNECTION: u32 = 1;

/// Bounds of the control socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlLimits {
    /// Clients served at once; one more gets an error line and is closed.
    pub max_connections: usize,
    /// Bytes of answers a client may leave unread before it is dropped.
    pub max_output: usize,
}

impl Default for ControlLimits {
    fn default() -> Self {
        ControlLimits {
            max_connections: 8,
            max_output: 64 * 1024,
        }
    }
}

/// Serves the control socket (see the module documentation).
pub struct ControlServer {
    socket: BoundSocket,
    target: Arc<dyn Control + Send + Sync>,
    access: ControlAccess,
    limits: ControlLimits,
    connections: HashMap<u32, Connection>,
    next_id: u32,
}

impl ControlServer {
    /// A server on `socket` acting on `target`, for root and vmm's own user, with the
    /// default limits.
    pub fn new(socket: BoundSocket, target: Arc<dyn Control + Send + Sync>) -> Self {
        Self::with(
            socket,
            target,
            ControlAccess::for_this_process(),
            ControlLimits::default(),
        )
    }

    /// A server admitting the peers `access` allows, within `limits`.
    pub fn with(
        socket: BoundSocket,
        target: Arc<dyn Control + Send + Sync>,
        access: ControlAccess,
        limits: ControlLimits,
    ) -> Self {
        ControlServer {
            socket,
            target,
            access,
            limits,
            connections: HashMap::new(),
            next_id: FIRST_CONNECTION,
        }
    }

    fn accept(&mut self, ops: &mut EventOps) {
        loop {
            match self.socket.accept() {
                Ok(Some(stream)) => self.admit(stream, ops),
                Ok(None) => return,
                Err(e) => {
                    crate::warn_ratelimited!("control socket: accept failed: {e}");
                    return;
                }
            }
        }
    }

    /// Takes a new connection, or refuses it with one error line (if the socket takes it
    /// at once) and closes it; a refused peer is audited.
    fn admit(&mut self, mut stream: UnixStream, ops: &mut EventOps) {
        let credentials = match peer_credentials(&stream) {
            Ok(credentials) => credentials,
            Err(e) => {
                crate::warn_ratelimited!("control socket: cannot read a peer's credentials: {e}");
                return;
            }
        };
        if let Err(detail) = self.access.check(credentials.uid, credentials.gid) {
            let peer = ClientIdentity::host_user(credentials.uid, credentials.gid);
            log::debug!("control socket: refused {peer}: {detail}");
            self.target
                .refused(&peer, &self.socket.path().display().to_string(), &detail);
            send_once(&mut stream, format!("{}\n", error_line(&detail)).as_bytes());
            return;
        }
        if self.connections.len() >= self.limits.max_connections {
            let message = format!(
                "too many control connections (limit {}); try again later",
                self.limits.max_connections
            );
            log::debug!("control socket: {message}");
            send_once(
                &mut stream,
                format!("{}\n", error_line(&message)).as_bytes(),
            );
            return;
        }
        let id = self.new_id();
        if let Err(e) = ops.add(Events::with_data(&stream, id, Connection::INITIAL_INTEREST)) {
            crate::warn_ratelimited!("control socket: cannot watch a client: {e}");
            return;
        }
        self.connections.insert(id, Connection::new(stream));
    }

    /// An id no open connection has.
    fn new_id(&mut self) -> u32 {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.checked_add(1).unwrap_or(FIRST_CONNECTION);
            if !self.connections.contains_key(&id) {
                return id;
            }
        }
    }

    /// Handles `set` on connection `id`: reads and answers, writes, closes when done,
    /// and keeps the loop's interest in step.
    fn serve(&mut self, id: u32, set: EventSet, ops: &mut EventOps) {
        let Some(conn) = self.connections.get_mut(&id) else {
            return;
        };
        if set.intersects(EventSet::IN | EventSet::READ_HANG_UP)
            && conn.read(self.target.as_ref(), self.limits.max_output) == AfterRead::Overflowed
        {
            log::debug!(
                "control socket: dropped a client that does not read its answers ({} bytes unread)",
                conn.unread()
            );
            conn.hang_up();
        }
        if set.contains(EventSet::OUT) {
            conn.flush();
        }
        if set.intersects(EventSet::HANG_UP | EventSet::ERROR) {
            conn.hang_up();
        }
        if conn.is_done() {
            let _ = ops.remove(Events::empty(conn.stream()));
            self.connections.remove(&id);
            return;
        }
        let interest = conn.wanted_interest();
        if interest != conn.interest {
            conn.interest = interest;
            let _ = ops.modify(Events::with_data(conn.stream(), id, interest));
        }
    }
}

impl MutEventSubscriber for ControlServer {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::with_data(&self.socket, LISTENER, EventSet::IN)) {
            log::error!("cannot watch the control socket: {e}");
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        match events.data() {
            LISTENER => self.accept(ops),
            id => self.serve(id, events.event_set(), ops),
        }
    }
}
