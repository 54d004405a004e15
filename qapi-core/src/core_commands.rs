//! The commands every agent has: the sync handshakes, ping and info.

use qga_protocol::schema::{Empty, GuestAgentInfo, GuestSyncArgs, NoArgs};

use crate::error::QapiError;
use crate::registry::Registry;

/// Registers `guest-sync-delimited`, `guest-sync`, `guest-ping` and
/// `guest-info`. All four run at once and stay enabled while frozen.
pub fn register_core_commands(registry: &mut Registry) {
    register_sync_commands(registry);
    register_guest_info(registry);
}

/// Registers `guest-sync-delimited`, `guest-sync` and `guest-ping`.
pub fn register_sync_commands(registry: &mut Registry) {
    registry
        .register("guest-sync-delimited", |args: GuestSyncArgs| {
            Ok::<_, QapiError>(args.id)
        })
        .instant()
        .allow_while_frozen()
        .delimit_response();
    registry
        .register("guest-sync", |args: GuestSyncArgs| Ok::<_, QapiError>(args.id))
        .instant()
        .allow_while_frozen();
    registry
        .register("guest-ping", |_: NoArgs| Ok::<_, QapiError>(Empty {}))
        .instant()
        .allow_while_frozen();
}

/// Registers `guest-info`, which lists the commands registered so far and
/// later, with their state.
pub fn register_guest_info(registry: &mut Registry) {
    registry
        .register_with_registry("guest-info", |registry: &Registry, _: NoArgs| {
            Ok::<GuestAgentInfo, QapiError>(registry.info())
        })
        .instant()
        .allow_while_frozen();
}
