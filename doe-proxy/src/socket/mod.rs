//! The DOE socket: host users reach the mediated mailboxes through a Unix socket served
//! by `vmm --doe-socket` (the mailboxes vmm owns, while its guest runs) and by
//! `doe-proxyd --socket` (mailboxes no VMM owns). One protocol ([`wire`], documented in
//! `doe-proxy/README.md`): whole DOE objects in and out, each request answered exactly
//! once — the response, or an explicit error. The peer's uid/gid (SO_PEERCRED) is its
//! policy identity.

pub mod client;
pub mod listener;
pub mod peer;
pub mod server;
pub mod service;
pub mod stream_io;
pub mod wire;

#[cfg(test)]
mod listener_tests;
#[cfg(test)]
mod tests;

pub use client::{ServedFunction, SocketClient, SocketError, SocketMailbox};
pub use listener::{BindError, BoundSocket};
pub use server::{DoeSocketServer, ServerConfig, ServerError};
pub use service::{DoeService, ServedMailbox};
pub use wire::{Reply, Request, Status};
