//! The atomic write every output goes through: a temporary file beside the
//! target, renamed over it once complete.

use std::path::Path;

use super::lock::NEW_FILE_MODE;
use crate::{Error, Result};

/// Runs `write` on a temporary file next to `path`, then renames it over
/// `path`: readers never see a half-written file, and on error nothing is
/// left behind.
pub(crate) fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
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
