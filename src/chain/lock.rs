//! One writer per output: an advisory lock (`flock`) on a small lock file
//! beside the output, holding the writer's process id.
//!
//! Two `seqcal sample -o x.h5 --force` or two `seqcal run` on one runs
//! folder would otherwise both write, and leave a file or folder that
//! mixes both runs yet looks complete. The second one now stops before
//! touching anything, naming the process that holds the output. The lock is
//! released when the holder exits, however it exits (the kernel drops
//! `flock` locks with the process), so a killed run never blocks the next.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Mode of new files before the umask: the umask alone decides who may read them.
pub(crate) const NEW_FILE_MODE: u32 = 0o666;

/// Holds an output for this process until dropped.
#[derive(Debug)]
pub struct OutputLock {
    path: PathBuf,
    #[cfg_attr(not(unix), allow(dead_code))]
    file: Option<File>,
}

impl OutputLock {
    /// Locks the output file `path` (lock file `.NAME.lock` beside it).
    ///
    /// # Errors
    /// Another process holds it (the message names its pid), or the lock
    /// file cannot be created.
    pub fn file(path: &Path) -> Result<Self> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "output".into());
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Self::acquire(path, dir.join(format!(".{name}.lock")))
    }

    /// Locks the folder `dir` (lock file `dir/.seqcal.lock`; `dir` must exist).
    ///
    /// # Errors
    /// As [`file`](Self::file).
    pub fn dir(dir: &Path) -> Result<Self> {
        Self::acquire(dir, dir.join(".seqcal.lock"))
    }

    #[cfg(unix)]
    fn acquire(target: &Path, lock: PathBuf) -> Result<Self> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        use std::os::unix::io::AsRawFd;
        for _ in 0..100 {
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(NEW_FILE_MODE)
                .open(&lock)
                .map_err(|e| Error::io(&lock, e))?;
            let fd = f.as_raw_fd();
            assert!(fd >= 0, "lock file descriptor {fd}");
            // SAFETY: flock(2) on an open descriptor (asserted above) owned by `f`,
            // which outlives the call; it touches no memory of ours.
            let r = unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) };
            if r != 0 {
                let err = std::io::Error::last_os_error();
                return match err.raw_os_error() {
                    Some(libc::EWOULDBLOCK) => {
                        let mut text = String::new();
                        let _ = f.read_to_string(&mut text);
                        let holder = text
                            .trim()
                            .parse::<u32>()
                            .map_or_else(|_| "another seqcal process".to_string(), |pid| format!("another seqcal process (pid {pid})"));
                        Err(Error::Locked {
                            path: target.to_path_buf(),
                            message: format!(
                            "{} is being written by {holder}: wait for it to finish or stop it (two writers would mix their results; lock file {})",
                            target.display(),
                            lock.display()
                            ),
                        })
                    }
                    // File systems without flock: go on unlocked.
                    Some(libc::ENOLCK | libc::EOPNOTSUPP | libc::ENOSYS) => Ok(OutputLock { path: lock, file: None }),
                    _ => Err(Error::io(&lock, err)),
                };
            }
            // The holder before us may have removed the file between our open
            // and our lock: then we locked a file nobody else sees; retry.
            let same = match (f.metadata(), std::fs::metadata(&lock)) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if !same {
                continue;
            }
            f.set_len(0).map_err(|e| Error::io(&lock, e))?;
            f.rewind().map_err(|e| Error::io(&lock, e))?;
            write!(f, "{}", std::process::id()).map_err(|e| Error::io(&lock, e))?;
            return Ok(OutputLock { path: lock, file: Some(f) });
        }
        Err(Error::Locked {
            path: target.to_path_buf(),
            message: format!("{}: could not take the lock {}: it keeps changing", target.display(), lock.display()),
        })
    }

    #[cfg(not(unix))]
    fn acquire(_target: &Path, lock: PathBuf) -> Result<Self> {
        Ok(OutputLock { path: lock, file: None })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for OutputLock {
    /// Removes the lock file (while still holding the lock), then releases it.
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.h5");
        let a = OutputLock::file(&out).unwrap();
        assert_eq!(std::fs::read_to_string(a.path()).unwrap(), std::process::id().to_string());
        // flock locks belong to the open file description: a second open in
        // the same process conflicts like another process would.
        let e = OutputLock::file(&out).unwrap_err().to_string();
        assert!(e.contains(&format!("pid {}", std::process::id())) && e.contains("x.h5"), "{e}");
        drop(a);
        assert!(!dir.path().join(".x.h5.lock").exists());
        let _b = OutputLock::file(&out).unwrap();
        let d = OutputLock::dir(dir.path()).unwrap();
        assert!(OutputLock::dir(dir.path()).is_err());
        drop(d);
    }
}
