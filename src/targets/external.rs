//! `cmd:COMMAND`: a model in another process, as a target.

use seqcal_api::ParamSpace;

use super::Target;
use crate::likelihood::{ExternalOptions, ExternalTarget};
use crate::{Error, Result};

/// Starts `command` (answers due within `timeout`; see [`crate::likelihood::external`] for the protocol)
/// and wraps it as a target: its answers are the full log posterior (flat
/// prior) unless a prior is given with `--prior`; its parameter names come
/// from its handshake.
///
/// # Errors
/// The process cannot be started or its handshake is wrong.
pub fn external(command: &str, timeout: std::time::Duration) -> Result<Target> {
    let t = ExternalTarget::spawn(command, ExternalOptions::default().with_timeout(timeout))?;
    let space = ParamSpace::unbounded(t.names().to_vec()).map_err(|e| Error::Usage(format!("external model {command:?}: {e}")))?;
    Ok(Target {
        name: format!("cmd:{command}"),
        description: format!("external model `{command}`"),
        space,
        prior: None,
        likelihood: Box::new(t),
        transform: None,
        init: None,
        log_z: None,
    })
}
