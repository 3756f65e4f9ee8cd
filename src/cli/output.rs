//! The one check every command runs on its outputs before it reads or
//! writes anything: an output is never one of the command's inputs, never a
//! device, FIFO, socket, folder or symbolic link (outputs are written to a
//! temporary file and renamed into place, which would replace the node
//! itself), and an existing output is replaced only with `--force`.

use std::path::{Path, PathBuf};

use crate::chain::not_regular;
use crate::{Error, Result};

/// What a command reads and writes, checked together by [`Io::check`].
#[derive(Debug, Default)]
pub(super) struct Io {
    inputs: Vec<PathBuf>,
    outputs: Vec<PathBuf>,
    on_exists: Option<&'static str>,
}

impl Io {
    /// No inputs or outputs yet.
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// A file the command reads.
    pub(super) fn input(mut self, path: impl AsRef<Path>) -> Self {
        self.inputs.push(path.as_ref().to_path_buf());
        self
    }

    /// Files the command reads.
    pub(super) fn inputs<P: AsRef<Path>>(mut self, paths: impl IntoIterator<Item = P>) -> Self {
        self.inputs.extend(paths.into_iter().map(|p| p.as_ref().to_path_buf()));
        self
    }

    /// A file the command writes.
    pub(super) fn output(mut self, path: impl AsRef<Path>) -> Self {
        self.outputs.push(path.as_ref().to_path_buf());
        self
    }

    /// Files the command writes.
    pub(super) fn outputs<P: AsRef<Path>>(mut self, paths: impl IntoIterator<Item = P>) -> Self {
        self.outputs.extend(paths.into_iter().map(|p| p.as_ref().to_path_buf()));
        self
    }

    /// What the message about an existing output advises instead of the
    /// default `pass --force to overwrite it`.
    pub(super) fn on_exists(mut self, advice: &'static str) -> Self {
        self.on_exists = Some(advice);
        self
    }

    /// Refuses, with one message, an output that is the same file as an
    /// input (by device and inode, so another spelling of the path, a hard
    /// link or a symbolic link to it is caught), an output that is not a
    /// regular file, and an existing output unless `force`.
    ///
    /// # Errors
    /// [`Error::Usage`] saying which output and why.
    pub(super) fn check(&self, force: bool) -> Result<()> {
        for out in &self.outputs {
            if let Some(inp) = self.inputs.iter().find(|i| same_file(out, i)) {
                let same = if inp == out { String::new() } else { format!(" ({} names the same file)", inp.display()) };
                return Err(Error::Usage(format!(
                    "{}: this output is also an input{same}; writing it would destroy the input: choose another output path",
                    out.display()
                )));
            }
            let meta = match std::fs::symlink_metadata(out) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(out, e)),
            };
            if let Some(kind) = not_regular(out) {
                let how = if meta.file_type().is_symlink() {
                    "seqcal replaces an output by renaming a finished file over it, which would replace the link, not the file it points to: give the path of that file, or remove the link"
                } else {
                    "seqcal writes only regular files (a finished file is renamed over the output): give the path of a regular file"
                };
                return Err(Error::Usage(format!("{}: the output is {kind}; {how}", out.display())));
            }
            if !force {
                let advice = self.on_exists.unwrap_or("pass --force to overwrite it");
                return Err(Error::Usage(format!("{} exists: {advice}", out.display())));
            }
        }
        Ok(())
    }
}

/// Whether two paths name one existing file (following symbolic links).
fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        ma.dev() == mb.dev() && ma.ino() == mb.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (ma, mb);
        matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
    }
}

/// The outputs a command writes into a folder (`dir/name` for each name),
/// and the folder itself when it exists but is not a folder.
pub(super) fn in_dir(dir: &Path, names: &[&str]) -> Result<Vec<PathBuf>> {
    if let Ok(m) = std::fs::metadata(dir) {
        if !m.is_dir() {
            return Err(Error::Usage(format!("{}: the output folder exists and is not a folder", dir.display())));
        }
    }
    Ok(names.iter().map(|n| dir.join(n)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_file_by_inode_whatever_the_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.h5");
        std::fs::write(&f, "x").unwrap();
        let other_spelling = dir.path().join(".").join("a.h5");
        assert!(same_file(&f, &other_spelling));
        let e = Io::new().input(&f).output(&other_spelling).check(true).unwrap_err().to_string();
        assert!(e.contains("also an input"), "{e}");
        #[cfg(unix)]
        {
            let link = dir.path().join("hard.h5");
            std::fs::hard_link(&f, &link).unwrap();
            assert!(Io::new().input(&f).output(&link).check(true).is_err());
        }
        let g = dir.path().join("b.h5");
        std::fs::write(&g, "y").unwrap();
        assert!(!same_file(&f, &g));
        assert!(Io::new().input(&f).output(&g).check(true).is_ok());
        assert!(Io::new().input(&f).output(&g).check(false).unwrap_err().to_string().contains("--force"));
    }
}
