//! The atomic write every output goes through: a temporary file beside the
//! target, renamed over it once complete.

use std::path::Path;

use super::lock::NEW_FILE_MODE;
use crate::{Error, Result};

/// What a path that exists but is not a regular file is, in words (`None`
/// for a regular file or nothing there). The rename that finishes an atomic
/// write would replace such a node (a device, a FIFO, a symbolic link)
/// itself, so outputs refuse them.
pub(crate) fn not_regular(path: &Path) -> Option<&'static str> {
    let t = std::fs::symlink_metadata(path).ok()?.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_symlink() {
        return Some("a symbolic link");
    }
    if t.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if t.is_char_device() || t.is_block_device() {
            return Some("a device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// Runs `write` on a temporary file next to `path`, then renames it over
/// `path`: readers never see a half-written file, and on error nothing is
/// left behind. A `path` that is not a regular file is refused, never
/// replaced.
pub(crate) fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if let Some(kind) = not_regular(path) {
        return Err(Error::Usage(format!(
            "{}: the output is {kind}; seqcal writes only regular files: give the path of a regular file",
            path.display()
        )));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut builder = tempfile::Builder::new();
    // Temporary files are private (0600); the finished file is an ordinary
    // one, with the permissions the user's umask gives new files.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(NEW_FILE_MODE));
    }
    let tmp = builder
        .prefix(&format!(".{name}."))
        // Keep the extension: some writers (image encoders) choose the format by it.
        .suffix(&match path.extension() {
            Some(e) => format!(".partial.{}", e.to_string_lossy()),
            None => ".partial".to_string(),
        })
        .tempfile_in(dir)
        .map_err(|e| {
            Error::io(path, std::io::Error::new(e.kind(), format!("cannot create a file in {}: {}", dir.display(), std::io::Error::from(e.kind()))))
        })?;
    write(tmp.path())?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for (p, kind) in
            [(fifo.as_path(), "a FIFO"), (link.as_path(), "a symbolic link"), (Path::new("/dev/null"), "a device"), (dir.path(), "a folder")]
        {
            let e = write_atomically(p, |tmp| std::fs::write(tmp, "x").map_err(|e| Error::io(tmp, e))).unwrap_err().to_string();
            assert!(e.contains(kind), "{}: {e}", p.display());
        }
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        let plain = dir.path().join("plain");
        write_atomically(&plain, |tmp| std::fs::write(tmp, "x").map_err(|e| Error::io(tmp, e))).unwrap();
        assert_eq!(std::fs::read_to_string(&plain).unwrap(), "x");
    }
}
