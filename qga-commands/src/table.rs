//! The agent's commands: one row each, in the order of QEMU's schema
//! (`qga/qapi-schema.json`), which `guest-info` lists backwards. A row
//! names the command, its argument and result types (from
//! `qga_protocol::schema`), its handler and its flags (see
//! [`qapi_core::command_table!`]):
//!
//! - `instant`: runs on the channel thread (reads that finish at once);
//! - `no_deadline`: runs as long as it takes (freezes, thaws, trims);
//! - `while_frozen`: stays enabled while filesystems are frozen;
//! - `silent`: a success is not answered (shutdown, suspend);
//! - `delimited`: the success reply is preceded by 0xFF;
//! - `cancel(hook)`, `urgent(hook)`: how a freeze in progress is stopped
//!   when the dispatcher gives up on it, and when a thaw arrives.
//!
//! Adding a command is one handler (a function taking the [`Agent`] and
//! the arguments) and one row here.

use qapi_core::{command_table, CommandSpec};
use qga_protocol::schema::*;

use crate::agent::Agent;
use crate::{
    disks, exec, file, fsfreeze, fstrim, host, memory_blocks, network, osinfo, password, shutdown, ssh,
    stats, suspend, time, users, vcpus,
};

/// Every command this agent offers, in QEMU's schema order.
pub static COMMANDS: &[CommandSpec<Agent>] = command_table! {
    Agent;
    "guest-sync-delimited" => qapi_core::sync(GuestSyncArgs) -> i64 [instant, while_frozen, delimited];
    "guest-sync" => qapi_core::sync(GuestSyncArgs) -> i64 [instant, while_frozen];
    "guest-ping" => qapi_core::ping(NoArgs) -> Empty [instant, while_frozen];
    "guest-get-time" => time::get_time(NoArgs) -> i64 [instant];
    "guest-set-time" => time::set_time(GuestSetTimeArgs) -> Empty;
    "guest-info" => @registry qapi_core::info(NoArgs) -> GuestAgentInfo [instant, while_frozen];
    "guest-shutdown" => shutdown::shutdown(GuestShutdownArgs) -> Empty [silent];
    "guest-file-open" => file::open(GuestFileOpenArgs) -> i64;
    "guest-file-close" => file::close(GuestFileHandleArgs) -> Empty;
    "guest-file-read" => file::read(GuestFileReadArgs) -> GuestFileRead;
    "guest-file-write" => file::write(GuestFileWriteArgs) -> GuestFileWrite;
    "guest-file-seek" => file::seek(GuestFileSeekArgs) -> GuestFileSeek;
    "guest-file-flush" => file::flush(GuestFileHandleArgs) -> Empty;
    "guest-fsfreeze-status" => fsfreeze::status(NoArgs) -> GuestFsfreezeStatus [instant, while_frozen];
    "guest-fsfreeze-freeze" => fsfreeze::freeze(NoArgs) -> i64 [no_deadline, cancel(fsfreeze::cancel)];
    "guest-fsfreeze-freeze-list" => fsfreeze::freeze_list(GuestFsfreezeFreezeListArgs) -> i64
        [no_deadline, cancel(fsfreeze::cancel)];
    "guest-fsfreeze-thaw" => fsfreeze::thaw(NoArgs) -> i64 [no_deadline, while_frozen, urgent(fsfreeze::cancel)];
    "guest-fstrim" => fstrim::fstrim(GuestFstrimArgs) -> GuestFilesystemTrimResponse [no_deadline];
    "guest-suspend-disk" => suspend::disk(NoArgs) -> Empty [silent];
    "guest-suspend-ram" => suspend::ram(NoArgs) -> Empty [silent];
    "guest-suspend-hybrid" => suspend::hybrid(NoArgs) -> Empty [silent];
    "guest-network-get-interfaces" => network::interfaces(NoArgs) -> Vec<GuestNetworkInterface> [instant];
    "guest-get-vcpus" => vcpus::get(NoArgs) -> Vec<GuestLogicalProcessor> [instant];
    "guest-set-vcpus" => vcpus::set(GuestSetVcpusArgs) -> i64;
    "guest-get-disks" => disks::disks(NoArgs) -> Vec<GuestDiskInfo>;
    "guest-get-fsinfo" => disks::fsinfo(NoArgs) -> Vec<GuestFilesystemInfo>;
    "guest-set-user-password" => password::set(GuestSetUserPasswordArgs) -> Empty;
    "guest-get-memory-blocks" => memory_blocks::get(NoArgs) -> Vec<GuestMemoryBlock> [instant];
    "guest-set-memory-blocks" => memory_blocks::set(GuestSetMemoryBlocksArgs) -> Vec<GuestMemoryBlockResponse>;
    "guest-get-memory-block-info" => memory_blocks::info(NoArgs) -> GuestMemoryBlockInfo [instant];
    "guest-exec-status" => exec::status(GuestExecStatusArgs) -> GuestExecStatus;
    "guest-exec" => exec::exec(GuestExecArgs) -> GuestExec;
    "guest-get-host-name" => host::host_name(NoArgs) -> GuestHostName [instant];
    "guest-get-users" => users::users(NoArgs) -> Vec<GuestUser>;
    "guest-get-timezone" => time::timezone(NoArgs) -> GuestTimezone;
    "guest-get-osinfo" => osinfo::osinfo(NoArgs) -> GuestOSInfo;
    "guest-ssh-get-authorized-keys" => ssh::get(GuestSshGetAuthorizedKeysArgs) -> GuestAuthorizedKeys;
    "guest-ssh-add-authorized-keys" => ssh::add(GuestSshAddAuthorizedKeysArgs) -> Empty;
    "guest-ssh-remove-authorized-keys" => ssh::remove(GuestSshRemoveAuthorizedKeysArgs) -> Empty;
    "guest-get-diskstats" => stats::diskstats(NoArgs) -> Vec<GuestDiskStatsInfo>;
    "guest-get-cpustats" => stats::cpustats(NoArgs) -> Vec<GuestCpuStats>;
    "guest-network-get-route" => network::routes(NoArgs) -> Vec<GuestNetworkRoute> [instant];
    "guest-get-load" => stats::load(NoArgs) -> GuestLoadAverage;
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fstrim_freezes_and_thaws_run_past_the_deadline() {
        let unbounded: Vec<&str> = COMMANDS
            .iter()
            .filter(|c| c.flags.no_deadline)
            .map(|c| c.name)
            .collect();
        assert_eq!(
            unbounded,
            [
                "guest-fsfreeze-freeze",
                "guest-fsfreeze-freeze-list",
                "guest-fsfreeze-thaw",
                "guest-fstrim"
            ]
        );
    }

    #[test]
    fn while_frozen_only_sync_ping_info_status_and_thaw_run() {
        let safe: Vec<&str> = COMMANDS
            .iter()
            .filter(|c| c.flags.while_frozen)
            .map(|c| c.name)
            .collect();
        assert_eq!(
            safe,
            [
                "guest-sync-delimited",
                "guest-sync",
                "guest-ping",
                "guest-info",
                "guest-fsfreeze-status",
                "guest-fsfreeze-thaw"
            ]
        );
    }
}
