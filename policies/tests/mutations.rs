//! A policy file damaged at random never panics the parser: it parses or it is refused
//! with a `<file>:<line>:<col>: ` error inside the file.

mod common;

use common::policies_dir;
use policies::{Policy, PolicyError};
use proptest::prelude::*;

fn shipped() -> Vec<String> {
    ["default.toml", "deny-cdat.toml", "host-users.toml"]
        .iter()
        .map(|name| std::fs::read_to_string(policies_dir().join(name)).unwrap())
        .collect()
}

/// Pieces that make plausible damage: TOML punctuation, keys, values of the format.
const PIECES: &[&str] = &[
    "[", "]", "[[", "]]", "{", "}", "=", "\"", ",", "\n", "#", "*", "0x", "-1", "0", "1e98:02",
    "0001:0", "GET_", "action", "deny", "rule", "spdm", "rate", "version", "é", "\\", "'''",
];

#[derive(Debug, Clone)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, piece: usize },
    Replace { at: usize, byte: u8 },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), 0..PIECES.len()).prop_map(|(at, piece)| Edit::Insert { at, piece }),
        (any::<usize>(), 0x20u8..0x7f).prop_map(|(at, byte)| Edit::Replace { at, byte }),
    ]
}

/// Applies an edit at a char boundary (positions wrap around the text).
fn apply(text: &mut String, edit: &Edit) {
    let boundary = |text: &String, at: usize| {
        let mut at = at % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    match *edit {
        Edit::Delete { at, len } => {
            let start = boundary(text, at);
            let end = boundary(text, start + len.min(text.len() - start));
            text.replace_range(start..end.max(start), "");
        }
        Edit::Insert { at, piece } => {
            let at = boundary(text, at);
            text.insert_str(at, PIECES[piece]);
        }
        Edit::Replace { at, byte } => {
            if text.is_empty() {
                return;
            }
            let start = boundary(text, at % text.len());
            let end = start + text[start..].chars().next().map_or(0, char::len_utf8);
            text.replace_range(start..end, &char::from(byte).to_string());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn damaged_files_never_panic(file in 0usize..3, edits in prop::collection::vec(edit(), 1..6)) {
        let mut text = shipped()[file].clone();
        for edit in &edits {
            apply(&mut text, edit);
        }
        match Policy::parse(&text, "m.toml") {
            Ok(_) => {}
            Err(PolicyError::Invalid { origin, location, message }) => {
                prop_assert_eq!(origin, "m.toml");
                prop_assert!(!message.is_empty(), "empty message for {:?}", text);
                let lines = text.split('\n').count();
                prop_assert!(location.line >= 1 && location.line <= lines, "{:?} of {}", location, lines);
                prop_assert!(location.column >= 1);
            }
            Err(other) => prop_assert!(false, "unexpected {other}"),
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Policy::parse(&text, "a.toml");
    }
}
