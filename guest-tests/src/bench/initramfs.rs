//! Building an initramfs: a staging directory packed as an uncompressed `newc` cpio
//! archive (uncompressed because decompressing under TCG costs seconds at every boot).

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::BenchError;
use super::runner::describe;

/// An initramfs being assembled in a staging directory.
#[derive(Debug)]
pub struct Initramfs {
    staging: PathBuf,
}

/// A user's `<source>:<destination>` file mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMapping {
    /// The file on the host.
    pub source: PathBuf,
    /// The absolute path inside the image.
    pub dest: String,
}

impl std::str::FromStr for FileMapping {
    type Err = BenchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (source, dest) = s
            .rsplit_once(':')
            .ok_or_else(|| BenchError::BadFileMapping(s.to_owned()))?;
        if source.is_empty() || !dest.starts_with('/') || dest.split('/').any(|c| c == "..") {
            return Err(BenchError::BadFileMapping(s.to_owned()));
        }
        Ok(FileMapping {
            source: PathBuf::from(source),
            dest: dest.to_owned(),
        })
    }
}

impl Initramfs {
    /// Starts an empty image in `staging` (cleared first).
    pub fn new(staging: &Path) -> Result<Initramfs, BenchError> {
        let _ = fs::remove_dir_all(staging);
        for dir in [
            "bin",
            "sbin",
            "usr/bin",
            "usr/sbin",
            "usr/local/bin",
            "proc",
            "sys",
            "dev",
            "tmp",
            "root",
            "etc/bench",
        ] {
            let d = staging.join(dir);
            fs::create_dir_all(&d).map_err(BenchError::io(&d))?;
        }
        Ok(Initramfs {
            staging: staging.to_path_buf(),
        })
    }

    fn target(&self, dest: &str) -> Result<PathBuf, BenchError> {
        let path = self.staging.join(dest.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(BenchError::io(parent))?;
        }
        Ok(path)
    }

    /// Copies a host file to `dest` with `mode`.
    pub fn add_file(&self, source: &Path, dest: &str, mode: u32) -> Result<(), BenchError> {
        let path = self.target(dest)?;
        fs::copy(source, &path).map_err(BenchError::io(source))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(BenchError::io(&path))
    }

    /// Copies a user's file, keeping its executable bit.
    pub fn add_mapping(&self, mapping: &FileMapping) -> Result<(), BenchError> {
        let meta = fs::metadata(&mapping.source).map_err(BenchError::io(&mapping.source))?;
        let mode = if meta.permissions().mode() & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        self.add_file(&mapping.source, &mapping.dest, mode)
    }

    /// Copies a host file or directory tree (symlinks followed) to `dest`.
    pub fn add_tree(&self, source: &Path, dest: &str) -> Result<(), BenchError> {
        let meta = fs::metadata(source).map_err(BenchError::io(source))?;
        if !meta.is_dir() {
            return self.add_file(source, dest, meta.permissions().mode() & 0o777);
        }
        for entry in fs::read_dir(source)
            .map_err(BenchError::io(source))?
            .flatten()
        {
            let name = entry.file_name();
            let child_dest = format!("{}/{}", dest.trim_end_matches('/'), name.to_string_lossy());
            self.add_tree(&entry.path(), &child_dest)?;
        }
        Ok(())
    }

    /// Writes `bytes` to `dest` with `mode`.
    pub fn add_bytes(&self, dest: &str, bytes: &[u8], mode: u32) -> Result<(), BenchError> {
        let path = self.target(dest)?;
        fs::write(&path, bytes).map_err(BenchError::io(&path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(BenchError::io(&path))
    }

    /// Packs the image into `out` and returns its size in bytes.
    pub fn pack(&self, out: &Path) -> Result<u64, BenchError> {
        let mut entries = Vec::new();
        collect(&self.staging, Path::new("."), &mut entries)?;
        let archive = fs::File::create(out).map_err(BenchError::io(out))?;
        let mut cmd = Command::new("cpio");
        cmd.args(["-o", "-H", "newc", "--quiet", "-R", "0:0"])
            .current_dir(&self.staging)
            .stdin(Stdio::piped())
            .stdout(archive);
        let command = describe(&cmd);
        let mut child = cmd.spawn().map_err(|source| BenchError::Spawn {
            command: command.clone(),
            source,
        })?;
        {
            let mut stdin = child.stdin.take().expect("stdin is piped");
            for entry in &entries {
                writeln!(stdin, "{}", entry.display()).map_err(BenchError::io(out))?;
            }
        }
        let status = child.wait().map_err(BenchError::io(out))?;
        if !status.success() {
            return Err(BenchError::CommandFailed {
                command,
                status: status.to_string(),
                detail: String::new(),
            });
        }
        Ok(fs::metadata(out).map_err(BenchError::io(out))?.len())
    }
}

/// Every path under `root`, relative, parents before children.
fn collect(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<(), BenchError> {
    out.push(rel.to_path_buf());
    let dir = root.join(rel);
    if dir.is_dir()
        && !fs::symlink_metadata(&dir)
            .map_err(BenchError::io(&dir))?
            .is_symlink()
    {
        let mut children: Vec<_> = fs::read_dir(&dir)
            .map_err(BenchError::io(&dir))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        children.sort();
        for child in children {
            collect(root, &rel.join(child), out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_mappings_parse_and_reject() {
        let m: FileMapping = "a/b.txt:/root/b.txt".parse().unwrap();
        assert_eq!(m.source, PathBuf::from("a/b.txt"));
        assert_eq!(m.dest, "/root/b.txt");
        assert!("a.txt".parse::<FileMapping>().is_err());
        assert!("a.txt:relative".parse::<FileMapping>().is_err());
        assert!("a.txt:/root/../etc/x".parse::<FileMapping>().is_err());
        assert!(":/x".parse::<FileMapping>().is_err());
    }
}
