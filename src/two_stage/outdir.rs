//! An output folder written whole or not at all: everything goes into a
//! hidden temporary folder beside it, renamed into place once complete. An
//! existing folder is replaced only with `--force`, and never when it holds
//! one of the inputs.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A folder being written; [`OutDir::finish`] puts it in place, dropping it
/// unfinished removes everything written.
#[derive(Debug)]
pub struct OutDir {
    target: PathBuf,
    tmp: tempfile::TempDir,
}

impl OutDir {
    /// Checks `target` (no overwrite without `force`, no input inside it, not
    /// a file) and creates the temporary folder beside it.
    ///
    /// # Errors
    /// [`Error::Usage`] saying what to change; an I/O error creating the folder.
    pub fn create(target: &Path, force: bool, inputs: &[PathBuf]) -> Result<OutDir> {
        match std::fs::symlink_metadata(target) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::Usage(format!(
                    "{}: the output folder is a symbolic link; seqcal renames a finished folder into place, which would replace the link: give a plain path",
                    target.display()
                )))
            }
            Ok(m) if !m.is_dir() => return Err(Error::Usage(format!("{}: the output exists and is not a folder", target.display()))),
            Ok(_) => {
                let empty = std::fs::read_dir(target).map_err(|e| Error::io(target, e))?.next().is_none();
                if !empty && !force {
                    return Err(Error::Usage(format!("{} exists: pass --force to replace it", target.display())));
                }
                if let Ok(t) = target.canonicalize() {
                    if let Some(i) = inputs.iter().find(|i| i.canonicalize().is_ok_and(|c| c.starts_with(&t))) {
                        return Err(Error::Usage(format!(
                            "{}: the output folder holds the input {}; replacing it would destroy the input: choose another output folder",
                            target.display(),
                            i.display()
                        )));
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(target, e)),
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(Error::Usage(format!("{}: its folder {} does not exist", target.display(), parent.display())));
        }
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
        let tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".partial").tempdir_in(&parent).map_err(|e| Error::io(&parent, e))?;
        Ok(OutDir { target: target.to_path_buf(), tmp })
    }

    /// The temporary folder, where the outputs are written.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// `name` inside the temporary folder.
    pub fn join(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// The folder the outputs end up in.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the finished folder into place (replacing an existing one).
    ///
    /// # Errors
    /// An I/O error renaming; the old folder is then kept.
    pub fn finish(self) -> Result<PathBuf> {
        let OutDir { target, tmp } = self;
        let done = tmp.keep();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // A temporary folder is private (0700); the result is an ordinary folder.
            let _ = std::fs::set_permissions(&done, std::fs::Permissions::from_mode(0o755));
        }
        if target.exists() {
            let old = done.with_extension("old");
            std::fs::rename(&target, &old).map_err(|e| Error::io(&target, e))?;
            if let Err(e) = std::fs::rename(&done, &target) {
                let _ = std::fs::rename(&old, &target);
                let _ = std::fs::remove_dir_all(&done);
                return Err(Error::io(&target, e));
            }
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        } else if let Err(e) = std::fs::rename(&done, &target) {
            let _ = std::fs::remove_dir_all(&done);
            return Err(Error::io(&target, e));
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_whole_or_not_at_all() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let o = OutDir::create(&out, false, &[]).unwrap();
        std::fs::write(o.join("a.txt"), "1").unwrap();
        assert!(!out.exists());
        o.finish().unwrap();
        assert_eq!(std::fs::read_to_string(out.join("a.txt")).unwrap(), "1");
        assert!(OutDir::create(&out, false, &[]).unwrap_err().to_string().contains("--force"));
        let input = out.join("a.txt");
        assert!(OutDir::create(&out, true, &[input]).unwrap_err().to_string().contains("holds the input"));
        let o = OutDir::create(&out, true, &[]).unwrap();
        std::fs::write(o.join("b.txt"), "2").unwrap();
        drop(o);
        assert!(out.join("a.txt").exists(), "an unfinished folder replaces nothing");
        let o = OutDir::create(&out, true, &[]).unwrap();
        std::fs::write(o.join("b.txt"), "2").unwrap();
        o.finish().unwrap();
        assert!(!out.join("a.txt").exists() && out.join("b.txt").exists());
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }
}
