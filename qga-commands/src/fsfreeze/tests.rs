//! Freezing a real ext4 filesystem on a loop device that the test creates
//! (needs root, as CI runs). The freezer is given a mount table holding only
//! that filesystem, so the machine's own filesystems are never frozen.

use std::os::unix::fs::PermissionsExt;
use std::process::Child;

use super::*;
use crate::testing::LoopFs;

fn config(fs: &LoopFs, hook: Option<PathBuf>, extra: &str) -> FreezerConfig {
    FreezerConfig {
        hook,
        hook_timeout: Some(Duration::from_secs(20)),
        auto_thaw: None,
        mountinfo: fs.mountinfo(extra),
        statedir: fs.dir().to_path_buf(),
        adopt_left_frozen: true,
    }
}

fn make_freezer(fs: &LoopFs, hook: Option<PathBuf>, extra: &str) -> Freezer {
    Freezer::new(config(fs, hook, extra), Arc::new(FreezeState::new(false)))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits until `done` holds, at most `limit`.
fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
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
    let freezer = make_freezer(&fs, None, "");
    assert_eq!(freezer.freeze(None).unwrap(), 1);
    assert_eq!(freezer.status(), GuestFsfreezeStatus::Frozen);
    assert!(freezer.inner.frozen.is_frozen());
    assert!(fs.dir().join("qga.state.isfrozen").exists());
    let mut writer = fs.writer();
    assert!(
        !finished_within(&mut writer, Duration::from_millis(500)),
        "a write went through a frozen filesystem"
    );
    assert_eq!(freezer.thaw().unwrap(), 1);
    assert!(
        finished_within(&mut writer, Duration::from_secs(10)),
        "the writer stayed blocked after thaw"
    );
    assert_eq!(freezer.status(), GuestFsfreezeStatus::Thawed);
    assert!(!fs.dir().join("qga.state.isfrozen").exists());
    assert_eq!(freezer.thaw().unwrap(), 0, "nothing left to thaw");
}

#[test]
fn freeze_list_picks_mountpoints() {
    let Some(fs) = LoopFs::new() else { return };
    let freezer = make_freezer(&fs, None, "");
    assert_eq!(freezer.freeze(Some(&["/no/such/mount".to_string()])).unwrap(), 0);
    assert_eq!(
        freezer.status(),
        GuestFsfreezeStatus::Thawed,
        "nothing frozen: not frozen"
    );
    assert_eq!(freezer.freeze(Some(&[fs.mnt()])).unwrap(), 1);
    // Freezing again while frozen skips the busy filesystem but stays frozen.
    assert_eq!(freezer.freeze(Some(&[fs.mnt()])).unwrap(), 0);
    assert_eq!(freezer.status(), GuestFsfreezeStatus::Frozen);
    assert_eq!(freezer.thaw().unwrap(), 1);
}

#[test]
fn a_failure_part_way_thaws_what_was_frozen() {
    let Some(fs) = LoopFs::new() else { return };
    // Frozen in reverse order: the loop filesystem first, then the bogus one.
    let freezer = make_freezer(&fs, None, "99 1 8:99 / /no/such/dir rw - ext4 /dev/sdz9 rw\n");
    let err = freezer.freeze(None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to open /no/such/dir: No such file or directory"
    );
    assert_eq!(freezer.status(), GuestFsfreezeStatus::Thawed);
    let mut writer = fs.writer();
    assert!(
        finished_within(&mut writer, Duration::from_secs(10)),
        "left frozen after a failed freeze"
    );
}

#[test]
fn the_hook_runs_around_freeze_and_thaw() {
    let Some(fs) = LoopFs::new() else { return };
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
    assert_eq!(freezer.freeze(None).unwrap(), 1);
    assert_eq!(freezer.thaw().unwrap(), 1);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "freeze\nthaw\n");

    // A failing hook stops the freeze before anything is frozen.
    std::fs::write(fs.dir().join("hook.fail"), "").unwrap();
    let err = freezer.freeze(None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "child process has failed to execute fsfreeze hook: exit status 5"
    );
    assert_eq!(freezer.status(), GuestFsfreezeStatus::Thawed);
    let mut writer = fs.writer();
    assert!(finished_within(&mut writer, Duration::from_secs(10)));

    let missing = make_freezer(&fs, Some(Path::new("/no/such/hook").to_path_buf()), "");
    assert_eq!(
        missing.freeze(None).unwrap_err().to_string(),
        "child process has failed to execute fsfreeze hook: failed to exec '/no/such/hook': No such file or directory\n"
    );
}

#[test]
fn a_hook_past_its_time_limit_is_killed_and_undone() {
    let Some(fs) = LoopFs::new() else { return };
    let (hook, log) = fs.logging_hook("echo quiescing; sleep 30");
    let freezer = Freezer::new(
        FreezerConfig {
            hook_timeout: Some(Duration::from_secs(1)),
            ..config(&fs, Some(hook.clone()), "")
        },
        Arc::new(FreezeState::new(false)),
    );
    let started = Instant::now();
    let err = freezer.freeze(None).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        err.to_string(),
        format!(
            "fsfreeze hook '{}' did not finish within 1 seconds and was killed with its process group; \
             its last output: quiescing",
            hook.display()
        )
    );
    // The hook was told to undo what it may have done.
    assert_eq!(read(&log), "freeze\nthaw\n");
    assert_eq!(freezer.status(), GuestFsfreezeStatus::Thawed);
    let mut writer = fs.writer();
    assert!(finished_within(&mut writer, Duration::from_secs(10)));
}

/// A freezer whose hook sleeps on `freeze`, freezing on another thread;
/// returns once the hook runs, with that thread and the hook's log.
fn freeze_in_a_slow_hook(
    fs: &LoopFs,
) -> (
    Freezer,
    std::thread::JoinHandle<Result<i64, CommandError>>,
    PathBuf,
) {
    let (hook, log) = fs.logging_hook("sleep 30");
    let freezer = make_freezer(fs, Some(hook), "");
    let freezing = {
        let freezer = freezer.clone();
        std::thread::spawn(move || freezer.freeze(None))
    };
    assert!(eventually(Duration::from_secs(10), || read(&log) == "freeze\n"));
    (freezer, freezing, log)
}

#[test]
fn a_thaw_during_the_hook_stops_the_freeze_at_once() {
    let Some(fs) = LoopFs::new() else { return };
    let (freezer, freezing, log) = freeze_in_a_slow_hook(&fs);
    let started = Instant::now();
    assert_eq!(freezer.thaw().unwrap(), 0);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let err = freezing.join().unwrap().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("was cancelled"), "{}", err.to_string());
    assert_eq!(read(&log), "freeze\nthaw\n");
    assert_eq!(freezer.status(), GuestFsfreezeStatus::Thawed);
    let mut writer = fs.writer();
    assert!(finished_within(&mut writer, Duration::from_secs(10)));
}

#[test]
fn a_hook_leaving_a_helper_behind_does_not_hang_the_freeze() {
    let Some(fs) = LoopFs::new() else { return };
    let marker = fs.dir().join("helper");
    let (hook, _log) = fs.logging_hook(&format!(
        "(exec -a qga-test-helper sleep 60; touch '{}') &",
        marker.display()
    ));
    let freezer = make_freezer(&fs, Some(hook), "");
    let started = Instant::now();
    assert_eq!(freezer.freeze(None).unwrap(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(freezer.thaw().unwrap(), 1);
    let _ = std::process::Command::new("pkill")
        .args(["-f", "qga-test-helper"])
        .status();
}

#[test]
fn without_a_thaw_the_agent_thaws_by_itself() {
    let Some(fs) = LoopFs::new() else { return };
    let (hook, log) = fs.logging_hook("");
    let freezer = Freezer::new(
        FreezerConfig {
            auto_thaw: Some(Duration::from_secs(1)),
            ..config(&fs, Some(hook), "")
        },
        Arc::new(FreezeState::new(false)),
    );
    assert_eq!(freezer.freeze(None).unwrap(), 1);
    let mut writer = fs.writer();
    assert!(!finished_within(&mut writer, Duration::from_millis(300)));
    assert!(eventually(Duration::from_secs(10), || freezer.status()
        == GuestFsfreezeStatus::Thawed));
    assert!(finished_within(&mut writer, Duration::from_secs(10)));
    assert!(!fs.dir().join("qga.state.isfrozen").exists());
    assert_eq!(read(&log), "freeze\nthaw\n");
    // A host that thaws late sees that nothing was left to thaw.
    assert_eq!(freezer.thaw().unwrap(), 0);
    // A thaw in time stops the timer: the next freeze is not cut short.
    assert_eq!(freezer.freeze(None).unwrap(), 1);
    assert_eq!(freezer.thaw().unwrap(), 1);
    assert_eq!(freezer.freeze(None).unwrap(), 1);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        freezer.status(),
        GuestFsfreezeStatus::Frozen,
        "an old timer thawed a new freeze"
    );
    assert_eq!(freezer.thaw().unwrap(), 1);
}

#[test]
fn exiting_thaws_and_runs_the_hook_it_owes() {
    let Some(fs) = LoopFs::new() else { return };
    let (hook, log) = fs.logging_hook("");
    let freezer = make_freezer(&fs, Some(hook), "");
    assert_eq!(freezer.freeze(None).unwrap(), 1);
    freezer.thaw_before_exit();
    assert_eq!(freezer.status(), GuestFsfreezeStatus::Thawed);
    assert_eq!(read(&log), "freeze\nthaw\n");
    let mut writer = fs.writer();
    assert!(finished_within(&mut writer, Duration::from_secs(10)));
    // Nothing frozen, nothing owed: nothing runs.
    freezer.thaw_before_exit();
    assert_eq!(read(&log), "freeze\nthaw\n");
}

#[test]
fn exiting_during_the_hook_cancels_the_freeze_and_runs_the_thaw_hook_once() {
    let Some(fs) = LoopFs::new() else { return };
    let (freezer, freezing, log) = freeze_in_a_slow_hook(&fs);
    let started = Instant::now();
    freezer.thaw_before_exit();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(freezing.join().unwrap().is_err());
    assert_eq!(read(&log), "freeze\nthaw\n");
    assert_eq!(freezer.status(), GuestFsfreezeStatus::Thawed);
    let mut writer = fs.writer();
    assert!(finished_within(&mut writer, Duration::from_secs(10)));
}

fn freezer(dir: &Path, hook: Option<PathBuf>) -> Freezer {
    std::fs::write(dir.join("mountinfo"), "").unwrap();
    Freezer::new(
        FreezerConfig {
            hook,
            hook_timeout: Some(Duration::from_secs(5)),
            auto_thaw: Some(Duration::from_millis(200)),
            mountinfo: dir.join("mountinfo"),
            statedir: dir.to_path_buf(),
            adopt_left_frozen: true,
        },
        Arc::new(FreezeState::new(false)),
    )
}

#[test]
fn an_agent_left_frozen_starts_frozen_and_thaws_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("qga.state.isfrozen"), "").unwrap();
    let freezer = freezer(dir.path(), None);
    assert_eq!(freezer.status(), GuestFsfreezeStatus::Frozen);
    let start = Instant::now();
    while freezer.status() == GuestFsfreezeStatus::Frozen && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(freezer.status(), GuestFsfreezeStatus::Thawed);
    assert!(!dir.path().join("qga.state.isfrozen").exists());
    assert_eq!(freezer.thaw().unwrap(), 0);
}

#[test]
fn a_second_freeze_while_one_runs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let freezer = freezer(dir.path(), None);
    freezer.inner.lock().busy = Some(Busy::default());
    assert_eq!(
        freezer.freeze(None).unwrap_err().to_string(),
        "a filesystem freeze is already in progress"
    );
}

#[test]
fn with_nothing_to_freeze_the_state_stays_thawed() {
    let dir = tempfile::tempdir().unwrap();
    let freezer = freezer(dir.path(), None);
    assert_eq!(freezer.freeze(None).unwrap(), 0);
    assert_eq!(freezer.status(), GuestFsfreezeStatus::Thawed);
    assert!(freezer.inner.lock().busy.is_none());
    freezer.thaw_before_exit();
}
