//! The handlers of the commands every agent has, for its command table:
//! the sync handshakes, ping and info. All four belong in a table as
//! `instant` and `while_frozen`, `guest-sync-delimited` also `delimited`.

use qga_protocol::schema::{Empty, GuestAgentInfo, GuestSyncArgs, NoArgs};

use crate::error::QapiError;
use crate::registry::Registry;

/// `guest-sync` and `guest-sync-delimited`: the id, echoed.
pub fn sync<C>(_: &C, args: GuestSyncArgs) -> Result<i64, QapiError> {
    Ok(args.id)
}

/// `guest-ping`: an empty answer.
pub fn ping<C>(_: &C, _: NoArgs) -> Result<Empty, QapiError> {
    Ok(Empty {})
}

/// `guest-info`: the version and every command's state (declared
/// `@registry` in a table).
pub fn info(registry: &Registry, _: NoArgs) -> Result<GuestAgentInfo, QapiError> {
    Ok(registry.info())
}
