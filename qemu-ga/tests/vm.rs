//! End to end in a real VM: the static agent in a busybox initramfs under
//! Debian's kernel and `qemu-system-x86_64` (KVM when the CPU offers it,
//! software emulation otherwise), one agent on a virtio-serial port named
//! `org.qemu.guest_agent.0` and one on an ISA serial port, both reached
//! through QEMU's Unix-socket chardevs, a scratch ext4 virtio disk and a
//! small NVMe disk.
//!
//! Needs `QGA_VM_AGENT` (the static agent, built by `scripts/test-all.sh`)
//! and the packages `qemu-system-x86 linux-image-amd64 busybox-static cpio
//! e2fsprogs`. Without them the test says so and passes, unless
//! `QGA_VM_TEST` is set (as `scripts/test-all.sh` sets it): then it fails.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::{b64, call_within, return_within, show_short, Agent, Client};

/// How long the guest may take to boot and answer (software emulation).
const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
/// How long one reply may take inside the VM.
const VM_REPLY: Duration = Duration::from_secs(30);

/// Modules the guest needs, in load order; what they depend on is added
/// from `modules.dep` (crc32c_generic is one that ext4 asks the crypto
/// layer for, which `modules.dep` does not list).
const MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_console",
    "virtio_blk",
    "crc32c_generic",
    "ext4",
    "nvme",
];

/// The serial number of the guest's NVMe controller.
pub const NVME_SERIAL: &str = "QGA-NVME-0042";

const INIT: &str = r#"#!/bin/busybox sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
/bin/busybox mkdir -p /proc /sys /dev /run /mnt/scratch /sbin /bin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in MODULES; do
    [ -e /lib/modules/$m.ko ] && { insmod /lib/modules/$m.ko || echo "QGA-VM: insmod $m failed"; }
done
for i in $(seq 100); do
    [ -b /dev/vda ] && [ -b /dev/nvme0n1 ] && [ -n "$(ls /sys/class/virtio-ports 2>/dev/null)" ] && break
    sleep 0.1
done
mkdir -p /dev/virtio-ports /run/qga-virtio /run/qga-isa
chown -R 1000:1000 /home/tester
chmod 600 /etc/shadow
for p in /sys/class/virtio-ports/*; do
    ln -sf /dev/$(basename $p) /dev/virtio-ports/$(cat $p/name)
done
mount -t ext4 -o discard /dev/vda /mnt/scratch || echo "QGA-VM: mount failed"
stop() {
    echo "QGA-VM: stopping"
    kill $virtio $isa 2>/dev/null
    wait $virtio $isa 2>/dev/null
    umount /mnt/scratch
    sync
    poweroff -f
}
trap stop USR1 USR2 TERM
/sbin/qemu-ga -m virtio-serial -t /run/qga-virtio &
virtio=$!
/sbin/qemu-ga -m isa-serial -p /dev/ttyS1 -t /run/qga-isa &
isa=$!
echo "QGA-VM: agents started"
# While no host is connected the virtio port reports hang-up: the agent
# must not spin. Report its CPU ticks after 3 s of that.
(sleep 3; echo "QGA-VM: idle-cpu $(cut -d' ' -f14,15 /proc/$virtio/stat)") &
while true; do wait; sleep 1; done
"#;

const CHPASSWD: &str = r#"#!/bin/sh
enc=0; [ "$1" = -e ] && enc=1
while IFS= read -r line; do
    user=${line%%:*}; pass=${line#*:}
    grep -q "^$user:" /etc/shadow || { echo "chpasswd: unknown user $user" >&2; exit 1; }
    if [ $enc = 1 ]; then hash=$pass; else hash=$(mkpasswd -m sha512 "$pass") || exit 1; fi
    sed -i "s|^$user:[^:]*:|$user:$hash:|" /etc/shadow || exit 1
done
"#;

fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

fn newest_kernel() -> Option<(PathBuf, String)> {
    let mut kernels: Vec<String> = std::fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("vmlinuz-"))
        .collect();
    kernels.sort();
    let name = kernels.pop()?;
    let version = name.trim_start_matches("vmlinuz-").to_string();
    Some((Path::new("/boot").join(name), version))
}

/// What the VM test needs, or why it cannot run.
struct Prerequisites {
    agent: PathBuf,
    qemu: PathBuf,
    busybox: PathBuf,
    kernel: PathBuf,
    modules: PathBuf,
}

fn prerequisites() -> Result<Prerequisites, String> {
    let agent = std::env::var_os("QGA_VM_AGENT")
        .map(PathBuf::from)
        .ok_or("QGA_VM_AGENT (the static agent) is not set")?;
    if !agent.exists() {
        return Err(format!("{} does not exist", agent.display()));
    }
    let qemu = tool("qemu-system-x86_64").ok_or("qemu-system-x86_64 is not installed")?;
    let busybox = tool("busybox").ok_or("busybox-static is not installed")?;
    for t in ["cpio", "mkfs.ext4", "gzip"] {
        tool(t).ok_or(format!("{t} is not installed"))?;
    }
    let (kernel, version) = newest_kernel().ok_or("no kernel in /boot (linux-image-amd64)")?;
    let modules = Path::new("/lib/modules").join(version);
    if !modules.join("modules.dep").exists() {
        return Err(format!("no modules at {}", modules.display()));
    }
    Ok(Prerequisites {
        agent,
        qemu,
        busybox,
        kernel,
        modules,
    })
}

fn sh(script: &str, cwd: &Path) {
    let status = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .status()
        .unwrap();
    assert!(status.success(), "{script} failed");
}

/// The stem of a module's file name (`kernel/lib/crc64.ko` is `crc64`).
fn module_name(path: &str) -> Option<&str> {
    Path::new(path).file_name()?.to_str()?.strip_suffix(".ko")
}

/// `wanted` with what each depends on according to `dep` (the text of
/// `modules.dep`) before it, each once, as `(name, path)`. Modules that
/// `dep` does not list are built into the kernel and left out.
fn load_order(dep: &str, wanted: &[&str]) -> Vec<(String, String)> {
    let mut order: Vec<(String, String)> = Vec::new();
    for module in wanted {
        let Some((path, needs)) = dep
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(path, _)| module_name(path) == Some(*module))
        else {
            continue;
        };
        // As modprobe: the listed dependencies load last to first.
        for path in needs.split_whitespace().rev().chain([path]) {
            let name = module_name(path).unwrap_or_else(|| panic!("odd module path {path}"));
            if !order.iter().any(|(n, _)| n == name) {
                order.push((name.to_string(), path.to_string()));
            }
        }
    }
    order
}

/// Builds the initramfs: busybox, the agent, the modules, `/init`.
fn build_initramfs(pre: &Prerequisites, work: &Path) -> PathBuf {
    let root = work.join("root");
    for dir in [
        "bin",
        "sbin",
        "usr/sbin",
        "lib/modules",
        "etc",
        "home/tester",
        "root",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let etc = |name: &str, text: &str| std::fs::write(root.join("etc").join(name), text).unwrap();
    etc(
        "passwd",
        "root:x:0:0:root:/root:/bin/sh\ntester:x:1000:1000:tester:/home/tester:/bin/sh\n",
    );
    etc(
        "shadow",
        "root:*:19000:0:99999:7:::\ntester:*:19000:0:99999:7:::\n",
    );
    etc("group", "root:x:0:\ntester:x:1000:\n");
    etc(
        "os-release",
        "ID=qgavm\nNAME=\"QGA test VM\"\nVERSION_ID=1\nPRETTY_NAME=\"QGA test VM 1\"\n",
    );
    std::fs::copy(&pre.busybox, root.join("bin/busybox")).unwrap();
    std::fs::copy(&pre.agent, root.join("sbin/qemu-ga")).unwrap();
    // Debian's busybox-static has no chpasswd applet: a stand-in with the
    // same interface (user:password lines on stdin, -e for crypted).
    let chpasswd = root.join("usr/sbin/chpasswd");
    std::fs::write(&chpasswd, CHPASSWD).unwrap();
    std::fs::set_permissions(&chpasswd, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dep = std::fs::read_to_string(pre.modules.join("modules.dep")).unwrap();
    let modules = load_order(&dep, MODULES);
    for (name, path) in &modules {
        std::fs::copy(
            pre.modules.join(path),
            root.join("lib/modules").join(format!("{name}.ko")),
        )
        .unwrap();
    }
    let names: Vec<&str> = modules.iter().map(|(name, _)| name.as_str()).collect();
    let init = root.join("init");
    std::fs::write(&init, INIT.replace("MODULES", &names.join(" "))).unwrap();
    std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755)).unwrap();
    let initrd = work.join("initrd.gz");
    sh(
        &format!(
            "find . | cpio -o -H newc --quiet | gzip -1 > '{}'",
            initrd.display()
        ),
        &root,
    );
    initrd
}

/// The running VM; killed on drop, whatever happened.
struct Vm {
    child: Child,
    work: PathBuf,
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Vm {
    fn console(&self) -> String {
        std::fs::read_to_string(self.work.join("console.log")).unwrap_or_default()
    }

    fn exited_within(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

fn kvm_usable() -> bool {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    Path::new("/dev/kvm").exists() && (cpu.contains(" vmx") || cpu.contains(" svm"))
}

fn boot(pre: &Prerequisites, work: &Path, initrd: &Path, disk: &Path, nvme: &Path) -> Vm {
    let w = work.display();
    let accel = if kvm_usable() { "kvm" } else { "tcg" };
    let child = Command::new(&pre.qemu)
        .args([
            "-accel",
            accel,
            "-m",
            "384",
            "-smp",
            "1",
            "-display",
            "none",
            "-no-reboot",
            "-monitor",
            "none",
        ])
        .arg("-kernel")
        .arg(&pre.kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 panic=-1 quiet"])
        .args(["-serial", &format!("file:{w}/console.log")])
        .args(["-device", "virtio-serial-pci,id=vser0"])
        .args([
            "-chardev",
            &format!("socket,path={w}/qga.sock,server=on,wait=off,id=qga0"),
        ])
        .args([
            "-device",
            "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0",
        ])
        .args([
            "-chardev",
            &format!("socket,path={w}/isa.sock,server=on,wait=off,id=isa0"),
        ])
        .args(["-device", "isa-serial,chardev=isa0,index=1"])
        .args([
            "-drive",
            &format!("file={},if=none,id=d0,format=raw,discard=unmap", disk.display()),
        ])
        .args(["-device", "virtio-blk-pci,drive=d0,discard=on"])
        .args([
            "-drive",
            &format!("file={},if=none,id=nv0,format=raw", nvme.display()),
        ])
        .args(["-device", &format!("nvme,serial={NVME_SERIAL},drive=nv0")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.join("qemu.log")).unwrap())
        .spawn()
        .unwrap();
    let vm = Vm {
        child,
        work: work.to_path_buf(),
    };
    let start = Instant::now();
    while !(work.join("qga.sock").exists() && work.join("isa.sock").exists()) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "QEMU did not create its sockets"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    vm
}

/// Synchronizes with 0xFF + guest-sync-delimited, resending until the
/// agent (still booting, or with stale bytes queued) answers `id`.
fn sync(c: &mut Client, id: i64, limit: Duration) -> bool {
    let start = Instant::now();
    let reply = format!("{{\"return\": {id}}}\n").into_bytes();
    while start.elapsed() < limit {
        c.send(
            format!("\u{ff}{{\"execute\":\"guest-sync-delimited\",\"arguments\":{{\"id\":{id}}}}}")
                .as_bytes(),
        );
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if c.try_read_until(b"\xff", deadline.saturating_duration_since(Instant::now()))
                .is_err()
            {
                break;
            }
            match c.try_read_until(b"\n", VM_REPLY) {
                Ok(line) if line == reply => {
                    // Earlier attempts may still be queued: let their
                    // replies go by, up to a last marker.
                    let marker = id * 1000 + 999;
                    let tail = exchange(c, b"", marker);
                    return tail.ends_with(format!("{{\"return\": {marker}}}\n").as_bytes());
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    false
}

fn call(c: &mut Client, request: &Value) -> Value {
    call_within(c, request, VM_REPLY)
}

fn ret(c: &mut Client, request: Value) -> Value {
    return_within(c, request, VM_REPLY)
}

/// Sends `input` then a guest-sync marker, and returns everything the
/// agent wrote up to the marker's reply.
fn exchange(c: &mut Client, input: &[u8], marker: i64) -> Vec<u8> {
    c.send(input);
    c.send(format!("{{\"execute\":\"guest-sync\",\"arguments\":{{\"id\":{marker}}}}}").as_bytes());
    c.try_read_until(format!("{{\"return\": {marker}}}\n").as_bytes(), VM_REPLY)
        .unwrap_or_else(|s| s.into_marked())
}

#[test]
fn modules_load_after_what_they_need() {
    let dep = "kernel/a/nvme.ko: kernel/a/nvme-core.ko kernel/b/t10-pi.ko kernel/c/crc64.ko\n\
               kernel/a/nvme-core.ko: kernel/b/t10-pi.ko kernel/c/crc64.ko\n\
               kernel/b/t10-pi.ko: kernel/c/crc64.ko\n\
               kernel/c/crc64.ko:\n\
               kernel/d/ext4.ko: kernel/c/crc16.ko\n\
               kernel/c/crc16.ko:\n";
    let names: Vec<String> = load_order(dep, &["ext4", "builtin", "nvme", "t10-pi"])
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["crc16", "ext4", "crc64", "t10-pi", "nvme-core", "nvme"]);
    assert_eq!(
        load_order(dep, &["crc64"]),
        [("crc64".to_string(), "kernel/c/crc64.ko".to_string())]
    );
}

#[test]
fn the_agent_serves_a_real_guest() {
    let pre = match prerequisites() {
        Ok(pre) => pre,
        Err(why) => {
            assert!(
                std::env::var_os("QGA_VM_TEST").is_none(),
                "VM test cannot run: {why}"
            );
            eprintln!("skipping the VM test: {why}");
            return;
        }
    };
    let started = Instant::now();
    // Socket paths must stay under 108 bytes: a short directory.
    let work_dir = tempfile::Builder::new().prefix("qvm").tempdir_in("/tmp").unwrap();
    let work = work_dir.path();
    let initrd = build_initramfs(&pre, work);
    let disk = work.join("scratch.img");
    sh(
        &format!("truncate -s 64M '{0}' && mkfs.ext4 -q -F '{0}'", disk.display()),
        work,
    );
    let nvme = work.join("nvme.img");
    sh(&format!("truncate -s 16M '{}'", nvme.display()), work);
    let mut vm = boot(&pre, work, &initrd, &disk, &nvme);
    let context = |vm: &Vm| format!("console:\n{}", vm.console());

    // With no host on the virtio port yet, the agent waits without spinning.
    let idle = Instant::now();
    let ticks = loop {
        let console = vm.console();
        if let Some(line) = console.lines().find_map(|l| l.strip_prefix("QGA-VM: idle-cpu ")) {
            let ticks: Vec<u64> = line.split_whitespace().filter_map(|t| t.parse().ok()).collect();
            break ticks.iter().sum::<u64>();
        }
        assert!(
            idle.elapsed() < BOOT_TIMEOUT,
            "the guest did not report; {}",
            context(&vm)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("agent CPU with no host for 3 s: {ticks} ticks");
    assert!(
        ticks <= 30,
        "the agent used {ticks} ticks in 3 s without a host: it spins"
    );

    // virtio-serial: handshake, ping, info.
    let mut c = Client::connect(&work.join("qga.sock"));
    assert!(
        sync(&mut c, 1, BOOT_TIMEOUT),
        "no answer on virtio-serial; {}",
        context(&vm)
    );
    eprintln!(
        "guest agent answered {:.1} s after start",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(ret(&mut c, json!({"execute": "guest-ping"})), json!({}));
    let info = ret(&mut c, json!({"execute": "guest-info"}));
    assert_eq!(info["version"], "10.1.0");
    let names: Vec<&str> = info["supported_commands"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for command in ["guest-file-open", "guest-fsfreeze-freeze", "guest-shutdown"] {
        assert!(names.contains(&command), "{command} missing from {names:?}");
    }

    // A file round trip on the scratch disk.
    let data: Vec<u8> = (0..65_536u32).map(|i| (i * 31 % 251) as u8).collect();
    let h = ret(
        &mut c,
        json!({"execute": "guest-file-open", "arguments": {"path": "/mnt/scratch/blob", "mode": "w+"}}),
    );
    let b64 = b64(&data);
    let wrote = ret(
        &mut c,
        json!({"execute": "guest-file-write", "arguments": {"handle": h, "buf-b64": b64}}),
    );
    assert_eq!(wrote["count"], 65_536);
    ret(
        &mut c,
        json!({"execute": "guest-file-seek", "arguments": {"handle": h, "offset": 0, "whence": "set"}}),
    );
    let read = ret(
        &mut c,
        json!({"execute": "guest-file-read", "arguments": {"handle": h, "count": 70_000}}),
    );
    assert_eq!(
        (read["count"].as_u64(), read["eof"].as_bool()),
        (Some(65_536), Some(true))
    );
    assert_eq!(read["buf-b64"], b64);
    ret(
        &mut c,
        json!({"execute": "guest-file-close", "arguments": {"handle": h}}),
    );

    // Freeze, status, thaw: only the scratch disk is device-backed.
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-freeze"})), 1);
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-status"})), "frozen");
    let refused = call(
        &mut c,
        &json!({"execute": "guest-file-open", "arguments": {"path": "/mnt/scratch/x", "mode": "w"}}),
    );
    assert_eq!(refused["error"]["class"], "CommandNotFound");
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-thaw"})), 1);
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-status"})), "thawed");

    // Each area's checks of the commands that change the system.
    crate::sysinfo::vm_checks(&mut c);
    crate::exec::vm_checks(&mut c);
    crate::hardware::vm_checks(&mut c);
    crate::admin::vm_checks(&mut c);
    crate::disks::vm_checks(&mut c);

    // The host goes away and comes back; the agent kept running.
    c.send(b"{\"execute\":\"guest-ping\""); // and leaves half a message behind
    drop(c);
    std::thread::sleep(Duration::from_millis(500));
    let mut c = Client::connect(&work.join("qga.sock"));
    assert!(
        sync(&mut c, 2, VM_REPLY),
        "no answer after reconnecting; {}",
        context(&vm)
    );
    assert_eq!(
        call(&mut c, &json!({"execute": "guest-ping", "id": "again"})),
        json!({"return": {}, "id": "again"})
    );

    // Over QEMU's chardev the replies are the bytes a Unix socket gives.
    let local = Agent::start(&[]);
    let mut l = local.connect();
    let cases: [&[u8]; 7] = [
        b"{\"execute\":\"guest-ping\",\"id\":\"abc\"}",
        b"{\"execute\":\"nope\",\"id\":5}",
        b"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":1,\"x\":2}}",
        b"{\"execute\":\"guest-file-read\",\"arguments\":{\"handle\":1}}",
        b"{'execute':'guest-ping','id':[1,{\"a\":\"\xc3\xa9\"}]}",
        b"[1,2] {\"a\":1,\"a\":2} @ ",
        b"\xff",
    ];
    for (i, case) in (0..).zip(cases) {
        let remote = exchange(&mut c, case, 7000 + i);
        let here = exchange(&mut l, case, 7000 + i);
        assert_eq!(show_short(&remote, 2000), show_short(&here, 2000), "case {i}");
    }

    // The ISA serial agent.
    let mut isa = Client::connect(&work.join("isa.sock"));
    assert!(
        sync(&mut isa, 3, VM_REPLY),
        "no answer on the ISA serial port; {}",
        context(&vm)
    );
    assert_eq!(ret(&mut isa, json!({"execute": "guest-ping"})), json!({}));
    assert_eq!(
        ret(&mut isa, json!({"execute": "guest-info"}))["version"],
        "10.1.0"
    );

    // guest-shutdown: no reply, and the VM powers off.
    c.send(b"{\"execute\":\"guest-shutdown\"}");
    assert!(
        vm.exited_within(Duration::from_secs(90)),
        "the VM did not power off; {}",
        context(&vm)
    );
    let console = vm.console();
    assert!(console.contains("QGA-VM: stopping"), "{console}");
    eprintln!("VM test took {:.1} s", started.elapsed().as_secs_f64());
}
