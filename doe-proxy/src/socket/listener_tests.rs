//! Binding a server's socket: mode, stale and live sockets, removal at the end.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use super::listener::{parse_socket_mode, BindError, BoundSocket};

/// A fresh directory for one test; the socket's path in it.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("doe-listener-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("s.sock")
}

fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_file_gets_the_mode_asked() {
    for mode in [0o600, 0o660, 0o666] {
        let path = scratch(&format!("mode-{mode:o}"));
        let socket = BoundSocket::bind(&path, mode).unwrap();
        assert_eq!(mode_of(&path), mode, "{mode:o}");
        assert_eq!(socket.path(), path);
    }
}

#[test]
fn a_socket_in_use_is_refused_and_left_alone() {
    let path = scratch("in-use");
    let _first = BoundSocket::bind(&path, 0o600).unwrap();
    let e = BoundSocket::bind(&path, 0o600).unwrap_err();
    assert!(matches!(e, BindError::InUse), "{e}");
    assert!(e.to_string().contains("listening"), "{e}");
    // The first server's socket still answers.
    assert!(UnixStream::connect(&path).is_ok());
}

#[test]
fn a_stale_socket_is_replaced_and_removed_at_the_end() {
    let path = scratch("stale");
    // A server that was killed: its listener is gone, its file stays.
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let socket = BoundSocket::bind(&path, 0o600).unwrap();
    assert!(UnixStream::connect(&path).is_ok());
    drop(socket);
    assert!(!path.exists());
}

#[test]
fn a_socket_replaced_by_someone_else_is_not_removed() {
    let path = scratch("replaced");
    let socket = BoundSocket::bind(&path, 0o600).unwrap();
    // Another server puts its socket in place (created while ours exists, so another
    // inode; renamed over ours).
    let elsewhere = path.with_file_name("other.sock");
    let _other = UnixListener::bind(&elsewhere).unwrap();
    std::fs::rename(&elsewhere, &path).unwrap();
    drop(socket);
    assert!(path.exists(), "another process's socket was removed");
}

#[test]
fn a_path_that_is_not_a_socket_is_never_removed() {
    let path = scratch("regular");
    std::fs::write(&path, "not a socket").unwrap();
    let e = BoundSocket::bind(&path, 0o600).unwrap_err();
    assert!(matches!(e, BindError::NotASocket), "{e}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
}

#[test]
fn a_path_too_long_for_a_socket_address_is_refused() {
    let path = std::env::temp_dir().join("x".repeat(200));
    let e = BoundSocket::bind(&path, 0o600).unwrap_err();
    assert!(matches!(e, BindError::BadPath { max: 107 }), "{e}");
    let e = BoundSocket::bind(std::path::Path::new("/nonexistent-dir/s.sock"), 0o600).unwrap_err();
    assert!(
        matches!(&e, BindError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound),
        "{e}"
    );
}

#[test]
fn accepted_connections_are_non_blocking() {
    let path = scratch("accept");
    let socket = BoundSocket::bind(&path, 0o600).unwrap();
    assert!(socket.accept().unwrap().is_none());
    let _client = UnixStream::connect(&path).unwrap();
    let mut stream = socket.accept().unwrap().expect("a connection waits");
    let mut buf = [0u8; 1];
    let e = io::Read::read(&mut stream, &mut buf).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
}

#[test]
fn modes_parse_as_octal() {
    assert_eq!(parse_socket_mode("0660"), Ok(0o660));
    assert_eq!(parse_socket_mode("600"), Ok(0o600));
    assert_eq!(parse_socket_mode("0o644"), Ok(0o644));
    assert!(parse_socket_mode("0999").is_err());
    assert!(parse_socket_mode("01777").is_err());
    assert!(parse_socket_mode("rw").unwrap_err().contains("octal"));
}
