#!/usr/bin/env python3
"""Side-by-side measurement of Debian's qemu-ga and ours over a unix socket.

Usage (from the workspace root):

    apt-get install -y qemu-guest-agent        # provides /usr/sbin/qemu-ga
    cargo build --release -p qemu-ga           # provides target/release/qemu-ga
    benches/side-by-side.py [--ours PATH] [--theirs PATH]
                            [--sequential N] [--pipelined N]
                            [--agent-cpu C] [--client-cpu C] [--rounds R]

Each agent is started in turn as

    taskset -c AGENT_CPU AGENT -m unix-listen -p SOCK -t STATEDIR

with a fresh temporary directory for SOCK and STATEDIR (never -d), and this
client pins itself to CLIENT_CPU. By default everything runs on CPU 0, the
agents and this client: a request then wakes the agent on the CPU it is
sent from, so the agent's CPU time is its own work (reading, answering, the
system calls that takes) rather than what this machine charges for waking
an idle CPU of another core. On a virtual machine that cost dominates: with
the client on CPU 1 (--client-cpu 1) each agent's CPU time per ping grows by
about 35 us here, the same for both agents, which shrinks every ratio
towards 1 (a C server doing nothing but blocking read + write then measures
about 0.5x of QEMU's agent). Over one connection, opened with a
`guest-sync` handshake, it measures:

* sequential `guest-ping` round trips per second (send one, read the
  newline-terminated reply, repeat; --sequential, default 10,000), after
  a short warm-up;
* the agent's CPU time (utime+stime of /proc/PID/stat over
  SC_CLK_TCK) spent on those sequential pings, scaled to 10,000 pings; the
  same figure from the scheduler's nanosecond counters
  (/proc/PID/task/*/schedstat) is shown as a finer cross-check;
* pipelined pings per second: a writer thread sends all --pipelined
  requests (default 20,000) in one go while the replies are read;
* resident memory: VmRSS from /proc/PID/status after the run (and VmHWM,
  the peak, and RssAnon, the part that is not mapped files such as the
  binary and its shared libraries).

This is repeated --rounds times (default 5), theirs then ours in each round,
each time with freshly started agents, since timings on a virtual machine
vary a lot from one run to the next. It prints each agent's median figures,
the ratio of the medians ours/theirs with the range of the per-round
ratios, and whether each goal is met by the ratio of the medians (agent CPU
per request <= 0.4x, pipelined throughput >= 10x, RSS <= 0.5x). The agents
are always killed, whatever happens. The whole run takes about 10 seconds.

Note that VmRSS counts the pages of the binary and of its shared libraries
(libc alone is about 1.3 MiB of it), not only the agent's own memory.

Exit status: 0 if every goal is met, 3 if one is missed, 2 on error (1 is
left to Python: an uncaught exception).
Standard library only (Python 3.11).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PING = b'{"execute":"guest-ping"}\n'
PONG = b'{"return": {}}\n'
WARMUP = 500
CONNECT_TIMEOUT = 10.0
IO_TIMEOUT = 60.0

GOALS = {
    # metric: (comparison, bound) on the ratio ours/theirs
    "cpu": ("<=", 0.4),
    "pipelined": (">=", 10.0),
    "rss": ("<=", 0.5),
}


@dataclass
class Result:
    """What was measured for one agent."""

    sequential_per_s: float
    pipelined_per_s: float
    cpu_s_per_10k: float
    sched_cpu_s_per_10k: float
    rss_kib: int
    hwm_kib: int
    anon_kib: int


class LineReader:
    """Reads newline-terminated lines from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def line(self) -> bytes:
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                line, self.buf = self.buf[: end + 1], self.buf[end + 1 :]
                return line
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("agent closed the connection")
            self.buf += data


def cpu_ticks(pid: int) -> int:
    """utime + stime of the whole process, in clock ticks."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name, which is in parentheses and may hold spaces.
    fields = stat[stat.rindex(")") + 2 :].split()
    # utime and stime are fields 14 and 15 of the full line (1-based).
    return int(fields[11]) + int(fields[12])


def sched_ns(pid: int) -> int:
    """Time on CPU of all live threads, in nanoseconds, from schedstat."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            pass
    return total


def status_kib(pid: int, key: str) -> int:
    """A `kB` figure from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


def connect(path: str, proc: subprocess.Popen) -> socket.socket:
    """Connects to the agent's socket once it listens."""
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"agent exited with status {proc.returncode} before listening")
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            sock.settimeout(IO_TIMEOUT)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if time.monotonic() > deadline:
                raise RuntimeError(f"agent did not listen on {path} within {CONNECT_TIMEOUT} s")
            time.sleep(0.02)


def handshake(sock: socket.socket, reader: LineReader) -> None:
    """guest-sync with a fresh id; skips anything before its reply."""
    sync_id = random.randrange(1, 2**31)
    sock.sendall(json.dumps({"execute": "guest-sync", "arguments": {"id": sync_id}}).encode() + b"\n")
    for _ in range(100):
        line = reader.line()
        try:
            if json.loads(line).get("return") == sync_id:
                return
        except ValueError:
            continue
    raise RuntimeError("no reply to guest-sync")


def ping_once(sock: socket.socket, reader: LineReader) -> None:
    sock.sendall(PING)
    reply = reader.line()
    if reply != PONG:
        raise RuntimeError(f"unexpected reply to guest-ping: {reply!r}")


def pipelined(sock: socket.socket, reader: LineReader, count: int) -> float:
    """Pings per second with all requests written at once by a writer thread."""
    payload = PING * count
    expected = PONG * count
    errors: list[BaseException] = []

    def write() -> None:
        try:
            sock.sendall(payload)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    received = bytearray(reader.buf)
    reader.buf = b""
    writer = threading.Thread(target=write, daemon=True)
    start = time.perf_counter()
    writer.start()
    while len(received) < len(expected):
        data = sock.recv(1 << 20)
        if not data:
            raise RuntimeError("agent closed the connection during the pipelined run")
        received += data
    elapsed = time.perf_counter() - start
    writer.join(IO_TIMEOUT)
    if errors:
        raise RuntimeError(f"writer failed: {errors[0]!r}")
    if bytes(received[: len(expected)]) != expected:
        raise RuntimeError("unexpected replies in the pipelined run")
    reader.buf = bytes(received[len(expected) :])
    return count / elapsed


def measure(name: str, binary: str, args: argparse.Namespace, procs: list[subprocess.Popen]) -> Result:
    """Starts one agent, measures it, and stops it."""
    workdir = tempfile.mkdtemp(prefix=f"qga-bench-{name}-")
    try:
        sock_path = os.path.join(workdir, "qga.sock")
        statedir = os.path.join(workdir, "state")
        os.mkdir(statedir)
        log = open(os.path.join(workdir, "agent.log"), "wb")
        cmd = ["taskset", "-c", str(args.agent_cpu), binary, "-m", "unix-listen", "-p", sock_path, "-t", statedir]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        procs.append(proc)
        log.close()
        phase = "connecting"
        try:
            sock = connect(sock_path, proc)
            with sock:
                reader = LineReader(sock)
                phase = "handshake"
                handshake(sock, reader)
                phase = "sequential pings"
                for _ in range(WARMUP):
                    ping_once(sock, reader)

                n = args.sequential
                ticks0, ns0 = cpu_ticks(proc.pid), sched_ns(proc.pid)
                start = time.perf_counter()
                for _ in range(n):
                    ping_once(sock, reader)
                elapsed = time.perf_counter() - start
                ticks1, ns1 = cpu_ticks(proc.pid), sched_ns(proc.pid)

                phase = "pipelined pings"
                pipelined_rate = pipelined(sock, reader, args.pipelined)
                phase = "final handshake"
                handshake(sock, reader)
                rss = status_kib(proc.pid, "VmRSS")
                hwm = status_kib(proc.pid, "VmHWM")
                anon = status_kib(proc.pid, "RssAnon")
            clk_tck = os.sysconf("SC_CLK_TCK")
            return Result(
                sequential_per_s=n / elapsed,
                pipelined_per_s=pipelined_rate,
                cpu_s_per_10k=(ticks1 - ticks0) / clk_tck * 10_000 / n,
                sched_cpu_s_per_10k=(ns1 - ns0) / 1e9 * 10_000 / n,
                rss_kib=rss,
                hwm_kib=hwm,
                anon_kib=anon,
            )
        except (RuntimeError, OSError) as e:
            log_text = Path(workdir, "agent.log").read_text(errors="replace").strip()
            detail = f"; agent log:\n{log_text}" if log_text else ""
            raise RuntimeError(f"{name} ({binary}), {phase}: {e}{detail}") from e
        finally:
            stop(proc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def stop(proc: subprocess.Popen) -> None:
    """Terminates an agent, killing it if it lingers."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def verdict(metric: str, ratio: float) -> str:
    op, bound = GOALS[metric]
    met = ratio <= bound if op == "<=" else ratio >= bound
    return f"goal {op} {bound:g}x: {'MET' if met else 'MISSED'}"


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else float("inf")


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ours", default=str(root / "target" / "release" / "qemu-ga"), help="our agent")
    parser.add_argument("--theirs", default="/usr/sbin/qemu-ga", help="QEMU's agent")
    parser.add_argument("--sequential", type=int, default=10_000, help="sequential pings (default 10000)")
    parser.add_argument("--pipelined", type=int, default=20_000, help="pipelined pings (default 20000)")
    parser.add_argument("--rounds", type=int, default=5, help="measurements of each agent (default 5)")
    parser.add_argument("--agent-cpu", type=int, default=0, help="CPU the agents run on (default 0)")
    parser.add_argument(
        "--client-cpu", type=int, default=None, help="CPU this client runs on (default: the agents' CPU)"
    )
    args = parser.parse_args()
    if args.client_cpu is None:
        args.client_cpu = args.agent_cpu

    for label, path in (("--ours", args.ours), ("--theirs", args.theirs)):
        if not os.access(path, os.X_OK):
            hint = "cargo build --release -p qemu-ga" if label == "--ours" else "apt-get install -y qemu-guest-agent"
            print(f"side-by-side: {path} ({label}) is not executable; try: {hint}", file=sys.stderr)
            return 2
    if shutil.which("taskset") is None:
        print("side-by-side: taskset not found (util-linux)", file=sys.stderr)
        return 2
    os.sched_setaffinity(0, {args.client_cpu})

    procs: list[subprocess.Popen] = []
    theirs: list[Result] = []
    ours: list[Result] = []
    try:
        for _ in range(max(args.rounds, 1)):
            theirs.append(measure("theirs", args.theirs, args, procs))
            ours.append(measure("ours", args.ours, args, procs))
    except (RuntimeError, OSError) as e:
        print(f"side-by-side: {e}", file=sys.stderr)
        return 2
    finally:
        for proc in procs:
            stop(proc)

    client = f"CPU {args.client_cpu}"
    print(
        f"agents pinned to CPU {args.agent_cpu}, client {client}; {args.sequential} sequential and "
        f"{args.pipelined} pipelined guest-ping; median of {len(ours)} round(s)"
    )
    print(f"theirs: {args.theirs}")
    print(f"ours:   {args.ours}")
    print()
    rows = [
        ("sequential round trips", "pings/s", "sequential_per_s", None, "{:,.0f}"),
        ("pipelined throughput", "pings/s", "pipelined_per_s", "pipelined", "{:,.0f}"),
        ("agent CPU per 10k pings", "s", "cpu_s_per_10k", "cpu", "{:.3f}"),
        ("  same, from schedstat", "s", "sched_cpu_s_per_10k", None, "{:.4f}"),
        ("resident memory VmRSS", "KiB", "rss_kib", "rss", "{:,.0f}"),
        ("  peak VmHWM", "KiB", "hwm_kib", None, "{:,.0f}"),
        ("  anonymous RssAnon", "KiB", "anon_kib", None, "{:,.0f}"),
    ]
    print(f"{'metric':<26}{'unit':<9}{'theirs':>11}{'ours':>11}{'ours/theirs':>13}{'range':>16}  goal")
    all_met = True
    for name, unit, field, goal, fmt in rows:
        t = statistics.median(getattr(x, field) for x in theirs)
        o = statistics.median(getattr(x, field) for x in ours)
        r = ratio(o, t)
        per_round = [ratio(getattr(a, field), getattr(b, field)) for a, b in zip(ours, theirs)]
        spread = f"{min(per_round):.2f}-{max(per_round):.2f}x"
        note = verdict(goal, r) if goal else ""
        all_met &= "MISSED" not in note
        print(f"{name:<26}{unit:<9}{fmt.format(t):>11}{fmt.format(o):>11}{r:>12.3f}x{spread:>16}  {note}")
    return 0 if all_met else 3


if __name__ == "__main__":
    sys.exit(main())
