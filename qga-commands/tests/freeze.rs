//! Freezing a real ext4 filesystem on a loop device that the test creates
//! (needs root, as CI runs). The freezer is given a mount table holding only
//! that filesystem, so the machine's own filesystems are never frozen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use qapi_core::Registry;
use qga_commands::freeze::Freezer;
use qga_commands::state::FrozenMarker;
use qga_commands::testing::LoopFs;
use qga_protocol::schema::GuestFsfreezeStatus;

fn make_freezer(fs: &LoopFs, hook: Option<PathBuf>, extra: &str) -> Freezer {
    Freezer::new(hook, fs.mountinfo(extra), FrozenMarker::new(fs.dir()))
}

fn finished_within(child: &mut Child, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn freeze_blocks_writers_until_thaw() {
    let Some(fs) = LoopFs::new() else { return };
    let registry = Registry::new("test");
    let freezer = make_freezer(&fs, None, "");
    assert_eq!(freezer.freeze(&registry, None).unwrap(), 1);
    assert_eq!(freezer.status(&registry), GuestFsfreezeStatus::Frozen);
    assert!(registry.is_frozen());
    assert!(fs.dir().join("qga.state.isfrozen").exists());
    let mut writer = fs.writer();
    assert!(
        !finished_within(&mut writer, Duration::from_millis(500)),
        "a write went through a frozen filesystem"
    );
    assert_eq!(freezer.thaw(&registry).unwrap(), 1);
    assert!(
        finished_within(&mut writer, Duration::from_secs(10)),
        "the writer stayed blocked after thaw"
    );
    assert_eq!(freezer.status(&registry), GuestFsfreezeStatus::Thawed);
    assert!(!fs.dir().join("qga.state.isfrozen").exists());
    assert_eq!(freezer.thaw(&registry).unwrap(), 0, "nothing left to thaw");
}

#[test]
fn freeze_list_picks_mountpoints() {
    let Some(fs) = LoopFs::new() else { return };
    let registry = Registry::new("test");
    let freezer = make_freezer(&fs, None, "");
    assert_eq!(
        freezer
            .freeze(&registry, Some(&["/no/such/mount".to_string()]))
            .unwrap(),
        0
    );
    assert_eq!(
        freezer.status(&registry),
        GuestFsfreezeStatus::Thawed,
        "nothing frozen: not frozen"
    );
    assert_eq!(freezer.freeze(&registry, Some(&[fs.mnt()])).unwrap(), 1);
    // Freezing again while frozen skips the busy filesystem but stays frozen.
    assert_eq!(freezer.freeze(&registry, Some(&[fs.mnt()])).unwrap(), 0);
    assert_eq!(freezer.status(&registry), GuestFsfreezeStatus::Frozen);
    assert_eq!(freezer.thaw(&registry).unwrap(), 1);
}

#[test]
fn a_failure_part_way_thaws_what_was_frozen() {
    let Some(fs) = LoopFs::new() else { return };
    let registry = Registry::new("test");
    // Frozen in reverse order: the loop filesystem first, then the bogus one.
    let freezer = make_freezer(&fs, None, "99 1 8:99 / /no/such/dir rw - ext4 /dev/sdz9 rw\n");
    let err = freezer.freeze(&registry, None).unwrap_err();
    assert_eq!(err.0, "failed to open /no/such/dir: No such file or directory");
    assert_eq!(freezer.status(&registry), GuestFsfreezeStatus::Thawed);
    let mut writer = fs.writer();
    assert!(
        finished_within(&mut writer, Duration::from_secs(10)),
        "left frozen after a failed freeze"
    );
}

#[test]
fn the_hook_runs_around_freeze_and_thaw() {
    let Some(fs) = LoopFs::new() else { return };
    let registry = Registry::new("test");
    let log = fs.dir().join("hook.log");
    let hook = fs.dir().join("hook");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\n[ -e '{}.fail' ] && exit 5\nexit 0\n",
            log.display(),
            hook.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let freezer = make_freezer(&fs, Some(hook.clone()), "");
    assert_eq!(freezer.freeze(&registry, None).unwrap(), 1);
    assert_eq!(freezer.thaw(&registry).unwrap(), 1);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "freeze\nthaw\n");

    // A failing hook stops the freeze before anything is frozen.
    std::fs::write(fs.dir().join("hook.fail"), "").unwrap();
    let err = freezer.freeze(&registry, None).unwrap_err();
    assert_eq!(
        err.0,
        "child process has failed to execute fsfreeze hook: exit status 5"
    );
    assert_eq!(freezer.status(&registry), GuestFsfreezeStatus::Thawed);
    let mut writer = fs.writer();
    assert!(finished_within(&mut writer, Duration::from_secs(10)));

    let missing = make_freezer(&fs, Some(Path::new("/no/such/hook").to_path_buf()), "");
    assert_eq!(
        missing.freeze(&registry, None).unwrap_err().0,
        "child process has failed to execute fsfreeze hook: failed to exec '/no/such/hook': No such file or directory\n"
    );
}
