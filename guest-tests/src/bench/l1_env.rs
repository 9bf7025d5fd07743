//! `--l1-env NAME=VALUE`: environment for the L1 script. The variables are written into
//! the L1 image as a shell file of `export NAME='VALUE'` lines ([`L1_ENV_FILE`]) that L1's
//! init sources before it runs the script, so any value (spaces, quotes, `$`, newlines)
//! arrives as given, never expanded.

use std::str::FromStr;

/// Where the exports are in L1 (sourced by `resources/bench/init/l1-init`).
pub const L1_ENV_FILE: &str = "/etc/bench/l1-env";

/// One `NAME=VALUE` for the L1 script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// A shell variable name: a letter or `_`, then letters, digits or `_`.
    pub name: String,
    /// Any text without NUL bytes.
    pub value: String,
}

impl FromStr for EnvVar {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, value) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))?;
        let mut chars = name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`{name}` is not a shell variable name"));
        }
        if value.contains('\0') {
            return Err(format!("the value of {name} contains a NUL byte"));
        }
        Ok(EnvVar {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }
}

/// `text` as one single-quoted shell word (a `'` inside becomes `'\''`).
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The shell file that exports `vars` (empty when there are none).
pub fn render(vars: &[EnvVar]) -> String {
    vars.iter()
        .map(|v| format!("export {}={}\n", v.name, quote(&v.value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    #[test]
    fn names_are_checked() {
        let v: EnvVar = "VMM_ARGS=--doe-completion-wait 0".parse().unwrap();
        assert_eq!(v.name, "VMM_ARGS");
        assert_eq!(v.value, "--doe-completion-wait 0");
        let empty: EnvVar = "_X1=".parse().unwrap();
        assert_eq!(empty.value, "");
        let with_equals: EnvVar = "A=b=c".parse().unwrap();
        assert_eq!(with_equals.value, "b=c");
        for bad in ["NOVALUE", "=x", "1A=x", "A-B=x", "A B=x", "A=\0"] {
            assert!(bad.parse::<EnvVar>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_reach_a_shell_unchanged() {
        let values = [
            "--doe-completion-wait 0",
            "it's \"quoted\" $HOME `id` $(id) \\n *",
            "two\nlines",
            "",
        ];
        let vars: Vec<EnvVar> = values
            .iter()
            .enumerate()
            .map(|(i, v)| EnvVar {
                name: format!("V{i}"),
                value: (*v).to_owned(),
            })
            .collect();
        let script = format!(
            "{}printf '%s\\0' \"$V0\" \"$V1\" \"$V2\" \"$V3\"",
            render(&vars)
        );
        let out = Command::new("sh").args(["-c", &script]).output().unwrap();
        assert!(out.status.success());
        let got: Vec<&str> = std::str::from_utf8(&out.stdout)
            .unwrap()
            .split_terminator('\0')
            .collect();
        assert_eq!(got, values);
    }
}
