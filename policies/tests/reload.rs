//! Reloading the policy in force: a good file replaces it, a bad one leaves it.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use policies::{Policy, PolicyError, PolicyStore, ProtocolId};

/// A file in the temp directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let path = std::env::temp_dir().join(format!("policies-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }

    fn write(&self, text: &str) {
        std::fs::write(&self.0, text).unwrap();
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn reload_swaps_and_a_bad_file_keeps_the_old_policy() {
    let deny_cdat = std::fs::read_to_string(policies_dir().join("deny-cdat.toml")).unwrap();
    let file = TempFile::new("reload.toml", &deny_cdat);
    let store = PolicyStore::from_file(&file.0).unwrap();
    let vm_a = guest("vm-a");
    let held = store.current();
    assert!(!held.evaluate(&vm_a, &cxl_function(), &cdat()).is_allowed());

    // A broken edit is refused with its location; the policy in force stays.
    file.write(
        "version = 1\n[[rule]]\naction = \"allow\"\nguests = \"*\"\nprotocols = \"1e98:2\"\n",
    );
    let err = store.reload_from(&file.0).unwrap_err();
    assert!(matches!(err, PolicyError::Invalid { .. }));
    assert!(err.to_string().ends_with(":5:13: \"1e98:2\" is not a DOE protocol: write vendor:type as 4 and 2 hex digits, e.g. \"0001:01\""), "{err}");
    assert!(Arc::ptr_eq(&held, &store.current()));

    // A missing file too.
    let missing = policies_dir().join("no-such-policy.toml");
    assert!(matches!(
        store.reload_from(&missing),
        Err(PolicyError::Read { .. })
    ));
    assert!(Arc::ptr_eq(&held, &store.current()));

    // The default allows CDAT again; a reader holding the old policy keeps it.
    file.write(&std::fs::read_to_string(policies_dir().join("default.toml")).unwrap());
    store.reload_from(&file.0).unwrap();
    assert!(store
        .current()
        .evaluate(&vm_a, &cxl_function(), &cdat())
        .is_allowed());
    assert!(!held.evaluate(&vm_a, &cxl_function(), &cdat()).is_allowed());
    assert_eq!(
        store
            .current()
            .allowed_protocols(
                &vm_a,
                &cxl_function(),
                &[ProtocolId::DISCOVERY, ProtocolId::CXL_TABLE_ACCESS]
            )
            .len(),
        2
    );
}

#[test]
fn replace_returns_the_previous_policy() {
    let store = PolicyStore::new(Policy::builtin_default());
    let empty = Policy::parse("version = 1\n", "empty").unwrap();
    let previous = store.replace(empty);
    assert_eq!(previous.origin(), "<builtin>/default.toml");
    assert_eq!(store.current().origin(), "empty");
}

#[test]
fn readers_on_other_threads_see_a_whole_policy() {
    let store = Arc::new(PolicyStore::new(Policy::builtin_default()));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    let rules = store.current().rules().len();
                    assert!(rules == 3 || rules == 0, "{rules}");
                }
            })
        })
        .collect();
    for _ in 0..100 {
        store.replace(Policy::parse("version = 1\n", "empty").unwrap());
        store.replace(Policy::builtin_default());
    }
    for reader in readers {
        reader.join().unwrap();
    }
}
