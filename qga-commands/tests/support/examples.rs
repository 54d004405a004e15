//! One valid `arguments` object for commands of the agent's table
//! (`qga_commands::COMMANDS`), the member names and enum values they use,
//! and the forms QEMU words argument errors in: test data for argument
//! decoding, shared by `tests/arguments.rs` and the fuzz targets and seed
//! corpus (`fuzz/`), all with `#[path]`. A command without an example here
//! is still decoded by all of them; one with an example is also fuzzed near
//! valid arguments.
#![allow(dead_code)]

use serde_json::{json, Value};

macro_rules! examples {
    ($($name:literal => $example:tt;)*) => {
        /// One valid `arguments` object for each command listed.
        pub fn examples() -> Vec<(&'static str, Value)> {
            vec![$(($name, json!($example))),*]
        }
    };
}

examples! {
    "guest-sync-delimited" => {"id": 1};
    "guest-sync" => {"id": -1};
    "guest-ping" => {};
    "guest-get-time" => {};
    "guest-set-time" => {"time": 1_700_000_000_000_000_000i64};
    "guest-info" => {};
    "guest-shutdown" => {"mode": "reboot"};
    "guest-file-open" => {"path": "/tmp/x", "mode": "r"};
    "guest-file-close" => {"handle": 1000};
    "guest-file-read" => {"handle": 1000, "count": 4096};
    "guest-file-write" => {"handle": 1000, "buf-b64": "aGk=", "count": 2};
    "guest-file-seek" => {"handle": 1000, "offset": 0, "whence": "set"};
    "guest-file-flush" => {"handle": 1000};
    "guest-fsfreeze-status" => {};
    "guest-fsfreeze-freeze" => {};
    "guest-fsfreeze-freeze-list" => {"mountpoints": ["/"]};
    "guest-fsfreeze-thaw" => {};
    "guest-fstrim" => {"minimum": 4096};
    "guest-suspend-disk" => {};
    "guest-suspend-ram" => {};
    "guest-suspend-hybrid" => {};
    "guest-network-get-interfaces" => {};
    "guest-get-vcpus" => {};
    "guest-set-vcpus" => {"vcpus": [{"logical-id": 1, "online": true}]};
    "guest-get-disks" => {};
    "guest-get-fsinfo" => {};
    "guest-set-user-password" => {"username": "u", "password": "cHc=", "crypted": false};
    "guest-get-memory-blocks" => {};
    "guest-set-memory-blocks" => {"mem-blks": [{"phys-index": 3, "online": false, "can-offline": true}]};
    "guest-get-memory-block-info" => {};
    "guest-exec-status" => {"pid": 1};
    "guest-exec" => {"path": "sh", "arg": ["-c", "cat"], "env": ["A=1"], "input-data": "aGk=",
         "capture-output": "merged"};
    "guest-get-host-name" => {};
    "guest-get-users" => {};
    "guest-get-timezone" => {};
    "guest-get-osinfo" => {};
    "guest-ssh-get-authorized-keys" => {"username": "u"};
    "guest-ssh-add-authorized-keys" => {"username": "u", "keys": ["ssh-ed25519 AAAA u@h"], "reset": true};
    "guest-ssh-remove-authorized-keys" => {"username": "u", "keys": ["ssh-ed25519 AAAA u@h"]};
    "guest-get-diskstats" => {};
    "guest-get-cpustats" => {};
    "guest-network-get-route" => {};
    "guest-get-load" => {};
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
