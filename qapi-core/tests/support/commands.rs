//! Every command the agent registers, with the type its `arguments` decode
//! into and one valid `arguments` object, for tests and fuzz targets of
//! argument decoding. Shared by `tests/arguments.rs`, the `arguments` fuzz
//! target and the seed corpus (`fuzz/`), and `qemu-ga/tests/bounds.rs`
//! (which checks the list against the agent's `guest-info`), all with
//! `#[path]`.
//!
//! The registrations are in `qapi-core/src/core_commands.rs` and
//! `qga-commands/src/**/*.rs`; a command added there belongs here too.
#![allow(dead_code)]

use qapi_core::args::{from_arguments, ArgError};
use qga_protocol::schema;
use serde_json::{json, Map, Value};

macro_rules! commands {
    ($($name:literal => $ty:ident, $example:tt;)*) => {
        /// Every command's name, in the order listed.
        pub const COMMANDS: &[&str] = &[$($name),*];

        /// Decodes `arguments` as the argument type of each command, calling
        /// `each` with the command's name and the outcome.
        pub fn decode_every(
            arguments: &Map<String, Value>,
            mut each: impl FnMut(&'static str, Result<(), ArgError>),
        ) {
            $(each($name, from_arguments::<schema::$ty>(arguments.clone()).map(drop));)*
        }

        /// One valid `arguments` object for each command.
        pub fn examples() -> Vec<(&'static str, Value)> {
            vec![$(($name, json!($example))),*]
        }
    };
}

commands! {
    "guest-sync-delimited" => GuestSyncArgs, {"id": 1};
    "guest-sync" => GuestSyncArgs, {"id": -1};
    "guest-ping" => NoArgs, {};
    "guest-get-time" => NoArgs, {};
    "guest-set-time" => GuestSetTimeArgs, {"time": 1_700_000_000_000_000_000i64};
    "guest-info" => NoArgs, {};
    "guest-shutdown" => GuestShutdownArgs, {"mode": "reboot"};
    "guest-file-open" => GuestFileOpenArgs, {"path": "/tmp/x", "mode": "r"};
    "guest-file-close" => GuestFileHandleArgs, {"handle": 1000};
    "guest-file-read" => GuestFileReadArgs, {"handle": 1000, "count": 4096};
    "guest-file-write" => GuestFileWriteArgs, {"handle": 1000, "buf-b64": "aGk=", "count": 2};
    "guest-file-seek" => GuestFileSeekArgs, {"handle": 1000, "offset": 0, "whence": "set"};
    "guest-file-flush" => GuestFileHandleArgs, {"handle": 1000};
    "guest-fsfreeze-status" => NoArgs, {};
    "guest-fsfreeze-freeze" => NoArgs, {};
    "guest-fsfreeze-freeze-list" => GuestFsfreezeFreezeListArgs, {"mountpoints": ["/"]};
    "guest-fsfreeze-thaw" => NoArgs, {};
    "guest-fstrim" => GuestFstrimArgs, {"minimum": 4096};
    "guest-suspend-disk" => NoArgs, {};
    "guest-suspend-ram" => NoArgs, {};
    "guest-suspend-hybrid" => NoArgs, {};
    "guest-network-get-interfaces" => NoArgs, {};
    "guest-get-vcpus" => NoArgs, {};
    "guest-set-vcpus" => GuestSetVcpusArgs, {"vcpus": [{"logical-id": 1, "online": true}]};
    "guest-get-disks" => NoArgs, {};
    "guest-get-fsinfo" => NoArgs, {};
    "guest-set-user-password" => GuestSetUserPasswordArgs,
        {"username": "u", "password": "cHc=", "crypted": false};
    "guest-get-memory-blocks" => NoArgs, {};
    "guest-set-memory-blocks" => GuestSetMemoryBlocksArgs,
        {"mem-blks": [{"phys-index": 3, "online": false, "can-offline": true}]};
    "guest-get-memory-block-info" => NoArgs, {};
    "guest-exec-status" => GuestExecStatusArgs, {"pid": 1};
    "guest-exec" => GuestExecArgs,
        {"path": "sh", "arg": ["-c", "cat"], "env": ["A=1"], "input-data": "aGk=",
         "capture-output": "merged"};
    "guest-get-host-name" => NoArgs, {};
    "guest-get-users" => NoArgs, {};
    "guest-get-timezone" => NoArgs, {};
    "guest-get-osinfo" => NoArgs, {};
    "guest-ssh-get-authorized-keys" => GuestSshGetAuthorizedKeysArgs, {"username": "u"};
    "guest-ssh-add-authorized-keys" => GuestSshAddAuthorizedKeysArgs,
        {"username": "u", "keys": ["ssh-ed25519 AAAA u@h"], "reset": true};
    "guest-ssh-remove-authorized-keys" => GuestSshRemoveAuthorizedKeysArgs,
        {"username": "u", "keys": ["ssh-ed25519 AAAA u@h"]};
    "guest-get-diskstats" => NoArgs, {};
    "guest-get-cpustats" => NoArgs, {};
    "guest-network-get-route" => NoArgs, {};
    "guest-get-load" => NoArgs, {};
}

/// Every member name of every command's arguments (nested ones included).
pub const MEMBERS: &[&str] = &[
    "id",
    "time",
    "mode",
    "path",
    "handle",
    "count",
    "buf-b64",
    "offset",
    "whence",
    "mountpoints",
    "minimum",
    "vcpus",
    "logical-id",
    "online",
    "can-offline",
    "username",
    "password",
    "crypted",
    "mem-blks",
    "phys-index",
    "pid",
    "arg",
    "env",
    "input-data",
    "capture-output",
    "keys",
    "reset",
];

/// Strings that some member takes as an enum value.
pub const ENUM_VALUES: &[&str] = &[
    "set",
    "cur",
    "end",
    "none",
    "stdout",
    "stderr",
    "separated",
    "merged",
];

/// True when `text` is in one of the forms QEMU words argument errors in.
pub fn in_qemu_form(text: &str) -> bool {
    if let Some(rest) = text.strip_prefix("Invalid parameter type for '") {
        return rest.contains("', expected: ");
    }
    let Some(rest) = text.strip_prefix("Parameter '") else {
        return false;
    };
    rest.ends_with("' is missing")
        || rest.ends_with("' is unexpected")
        || (rest.ends_with('\'') && rest.contains("' does not accept value '"))
        || rest.contains("' expects ")
}

/// Most bytes an argument error may take: two quoted texts of at most
/// `ECHO_MAX` bytes (and the `...` of a cut) in a fixed sentence.
pub const MAX_ARG_ERROR: usize = 2 * (qapi_core::ECHO_MAX + 3) + 64;
