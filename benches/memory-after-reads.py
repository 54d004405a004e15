#!/usr/bin/env python3
"""Does an agent give memory back after large replies?

Usage (from the workspace root):

    benches/memory-after-reads.py [--agent PATH ...] [--size MIB] [--reads N]
                                  [--settle SECONDS]

For each agent (default: the static build, the glibc build and Debian's
qemu-ga when present), it starts `AGENT -m unix-listen -p SOCK -t STATEDIR`
in a fresh temporary directory, syncs with it, and reads VmRSS from
/proc/PID/status: the *idle* size. It then writes a file of --size MiB
(default 48, the largest guest-file-read count) and reads it whole --reads
times (default 3) with guest-file-open / guest-file-read / guest-file-close,
checking every byte. VmHWM then gives the peak. Then it samples VmRSS every
100 ms for --settle seconds (default 2) and reports the last sample.

Goal (issue #10): within --settle seconds of the reads, the agent is back
within 2 x idle + 16 MiB. Exit status 0 if every agent of this project
meets it, 3 if one does not, 2 on error. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONNECT_TIMEOUT = 10.0
IO_TIMEOUT = 120.0


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} for pid {pid}")


class Conn:
    def __init__(self, path: str, proc: subprocess.Popen) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"agent exited with {proc.returncode}")
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self.sock.settimeout(IO_TIMEOUT)
        self.buf = b""

    def line(self) -> bytes:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("agent closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def call(self, execute: str, **arguments) -> object:
        request = {"execute": execute}
        if arguments:
            request["arguments"] = arguments
        self.sock.sendall(json.dumps(request).encode())
        reply = json.loads(self.line())
        if "return" not in reply:
            raise RuntimeError(f"{execute} failed: {reply}")
        return reply["return"]


def measure(agent: str, size: int, reads: int, settle: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="qga-mem-") as tmp:
        sock = os.path.join(tmp, "sock")
        data_path = os.path.join(tmp, "data")
        payload = os.urandom(size)
        Path(data_path).write_bytes(payload)
        proc = subprocess.Popen(
            [agent, "-m", "unix-listen", "-p", sock, "-t", tmp],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            conn = Conn(sock, proc)
            conn.call("guest-sync", id=1)
            time.sleep(0.2)
            idle = status_kib(proc.pid, "VmRSS")
            for _ in range(reads):
                handle = conn.call("guest-file-open", path=data_path, mode="r")
                got = conn.call("guest-file-read", handle=handle, count=size)
                conn.call("guest-file-close", handle=handle)
                if base64.b64decode(got["buf-b64"]) != payload:
                    raise RuntimeError("the data read back differs")
            done = time.monotonic()
            peak = status_kib(proc.pid, "VmHWM")
            samples = []
            while time.monotonic() - done < settle:
                time.sleep(0.1)
                samples.append(status_kib(proc.pid, "VmRSS"))
            conn.sock.close()
            return {"idle": idle, "peak": peak, "after": samples[-1], "samples": samples}
        finally:
            proc.kill()
            proc.wait()


def default_agents(root: Path) -> list[str]:
    agents = [
        root / "target" / "x86_64-unknown-linux-musl" / "release" / "qemu-ga",
        root / "target" / "release" / "qemu-ga",
        Path("/usr/sbin/qemu-ga"),
    ]
    return [str(a) for a in agents if a.exists()]


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", action="append", help="an agent to measure (repeatable)")
    parser.add_argument("--size", type=int, default=48, help="MiB read at a time (default 48)")
    parser.add_argument("--reads", type=int, default=3, help="reads of the whole file (default 3)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds allowed to shrink (default 2)")
    args = parser.parse_args()
    agents = args.agent or default_agents(root)
    if not agents:
        print("no agent to measure", file=sys.stderr)
        return 2
    missed = False
    print(f"{args.reads} reads of {args.size} MiB; VmRSS {args.settle:g} s later vs idle (KiB)")
    print(f"{'agent':58} {'idle':>8} {'peak':>8} {'after':>8} {'goal':>8}  verdict")
    for agent in agents:
        try:
            m = measure(agent, args.size << 20, args.reads, args.settle)
        except Exception as e:  # noqa: BLE001 - report and go on
            print(f"{agent}: {e}", file=sys.stderr)
            return 2
        goal = 2 * m["idle"] + 16 * 1024
        ours = not agent.startswith("/usr/")
        met = m["after"] <= goal
        verdict = ("MET" if met else "MISSED") if ours else "(reference)"
        missed |= ours and not met
        print(f"{agent:58} {m['idle']:>8,} {m['peak']:>8,} {m['after']:>8,} {goal:>8,}  {verdict}")
    return 3 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
