"""Running commands and measuring them: wall time and the peak RSS of the whole process tree.

Every command runs ``--repeats`` times, its input files read once just before each run (untimed),
so every command starts with its inputs in the page cache. A workflow and its eager baseline run
in turn (workflow, eager, workflow, ...), so a drift of the machine shifts both alike. The peak
is the summed RSS of the command and all its descendants (Snakemake's job scripts, Dask workers),
sampled every SAMPLE_INTERVAL seconds. Summed RSS counts shared pages (libraries) once per process, so it
overstates multi-process memory a little; processes living less than one interval can be missed.
"""

from __future__ import annotations

import json
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

# The venv's own tools: the benchmark runs with the venv's python.
PYTHON = Path(sys.executable)
SNAKEMAKE = PYTHON.with_name("snakemake")
SAMPLE_INTERVAL = 0.05  # seconds between RSS samples of the process tree
MB, GB = 1_000_000, 1_000_000_000
IO_CHUNK = 1 << 24  # 16 MiB per read when warming the page cache


@dataclass
class Run:
    """One execution of a command."""

    seconds: float
    peak_rss: int  # bytes, summed over the process tree
    returncode: int | None  # None: killed after the timeout
    leftovers: int = 0  # descendants still running after the command exited
    reported: float | None = None  # seconds the command timed itself (its last stdout line), if asked for


@dataclass
class Measurement:
    """Repeated runs of one command, and what went wrong if anything did."""

    label: str
    command: list[str]
    inputs: list[Path] = field(default_factory=list)  # read once before every run: a warm page cache
    in_process: bool = False  # report the seconds the command measured itself, not its wall time
    shown: str = ""  # the command as typed, where ``command`` wraps it (``sh -c SCRIPT``: SCRIPT)
    before: Callable[[], None] | None = None  # called (untimed) before every run, e.g. to delete old outputs
    env: dict[str, str] | None = None  # the command's own environment, instead of the benchmark's
    runs: list[Run] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.runs)

    @property
    def median_seconds(self) -> float | None:
        if not self.ok:
            return None
        return statistics.median(r.reported if self.in_process else r.seconds for r in self.runs)

    @property
    def peak_rss_mb(self) -> float | None:
        # The worst run: memory budgets are set by the peak, not the typical run.
        return max(r.peak_rss for r in self.runs) / MB if self.ok else None


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak = 0
        self.seen: dict[int, psutil.Process] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, self._tree_rss())
            self._stop_event.wait(SAMPLE_INTERVAL)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def _tree_rss(self) -> int:
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.Error:  # exited between listing and reading: nothing to count
                continue
            self.seen.setdefault(process.pid, process)
        return total

    def still_running(self) -> int:
        """Descendants seen during the run that outlived it (e.g. a worker not shut down)."""
        alive = 0
        for pid, process in self.seen.items():
            try:
                # is_running() also checks the start time, so a reused pid does not count.
                alive += (
                    pid != self.root.pid and process.is_running() and process.status() != psutil.STATUS_ZOMBIE
                )
            except psutil.Error:
                continue
        return alive


def run_once(command: list[str], cwd: Path, log: Path, timeout: float, env: dict[str, str]) -> Run:
    """Run ``command`` (an argument list, no shell) and measure its wall time and peak tree RSS."""
    with open(log, "ab") as out:
        out.write(f"\n$ {shlex.join(command)}\n".encode())
        out.flush()
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        sampler = TreeSampler(process.pid)
        sampler.start()
        try:
            returncode: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(process.pid)
            process.wait()
            returncode = None
        seconds = time.perf_counter() - start
        sampler.stop()
    return Run(seconds, sampler.peak, returncode, sampler.still_running())


def kill_tree(pid: int) -> None:
    """Kill a command we started, children first, after it overran its timeout."""
    try:
        parent = psutil.Process(pid)
        for process in [*parent.children(recursive=True), parent]:
            process.kill()
    except psutil.Error:
        pass


def failure_excerpt(log: Path, lines: int = 40) -> str:
    """The last traceback of the log's last command, else its last lines.

    Snakemake prints a failed job's log (``show-failed-logs`` in the default
    profile) with the script's traceback and then its own summary; the traceback says why.
    """
    text = log.read_text(errors="replace")
    run = text[text.rfind("\n$ ") + 1 :].splitlines()
    starts = [i for i, line in enumerate(run) if line.startswith("Traceback")]
    if not starts:
        return "\n".join(run[-lines:])
    block = run[starts[-1] :]
    ends = [i for i, line in enumerate(block) if line.startswith("=====")]
    return "\n".join(block[: ends[0] if ends else len(block)][-lines:])


def reported_seconds(log: Path) -> float | None:
    """``{"seconds": ...}`` from the last JSON line the log's last command printed, if any."""
    text = log.read_text(errors="replace")
    for line in reversed(text[text.rfind("\n$ ") + 1 :].splitlines()):
        if line.startswith("{"):
            try:
                return float(json.loads(line)["seconds"])
            except (ValueError, KeyError, TypeError):
                return None
    return None


def warm(paths: Iterable[Path]) -> None:
    """Read files once so the next command finds them in the page cache.

    This machine evicts the cache under memory pressure (e.g. after a big eager run), so
    without this a command's time would depend on what ran before it.
    """
    buffer = memoryview(bytearray(IO_CHUNK))
    for path in paths:
        with open(path, "rb", buffering=0) as stream:
            while stream.readinto(buffer):
                pass


def measure_in_turn(
    measurements: list[Measurement],
    cwd: Path,
    logs: Path,
    repeats: int,
    timeout: float,
    env: dict[str, str],
) -> list[Measurement]:
    """Run the measurements' commands in turn, ``repeats`` rounds: A, B, A, B, ...

    A machine that speeds up or slows down while it is measured (this one moves
    by 15-25 % over minutes) then shifts each command alike, so their ratio
    holds better than with A, A, A, B, B, B. A command that fails is not run again;
    the others go on.
    """
    for attempt in range(1, repeats + 1):
        for result in measurements:
            if result.error is None:
                _run_attempt(result, attempt, repeats, cwd, logs, timeout, env)
    return measurements


def log_path(logs: Path, label: str) -> Path:
    """Where the runs of the command labelled ``label`` write their output (appended, run after run)."""
    return logs / (label.replace(" ", "_").replace("/", "-") + ".log")


def _run_attempt(
    result: Measurement,
    attempt: int,
    repeats: int,
    cwd: Path,
    logs: Path,
    timeout: float,
    env: dict[str, str],
) -> None:
    """One run of ``result``'s command, added to its runs (or its error)."""
    label = result.label
    log = log_path(logs, label)
    progress(f"  {label}: run {attempt}/{repeats} ... ")
    if result.before is not None:
        result.before()
    warm(result.inputs)
    run = run_once(result.command, cwd, log, timeout, env if result.env is None else result.env)
    reason = None
    if run.returncode != 0:
        reason = f"timed out after {timeout:g} s" if run.returncode is None else f"exit code {run.returncode}"
    elif result.in_process:
        run.reported = reported_seconds(log)
        reason = None if run.reported is not None else 'no {"seconds": ...} line on its stdout'
    if reason:
        result.error = f"{reason}; from {log.name}:\n{failure_excerpt(log)}"
        progress(f"FAILED ({reason})\n")
        return
    result.runs.append(run)
    timed = f"{run.reported:.2f} s in-process, process " if result.in_process else ""
    progress(f"{timed}{run.seconds:.2f} s, {run.peak_rss / MB:.0f} MB\n")
    if run.leftovers:
        result.notes.append(f"run {attempt}: {run.leftovers} descendant process(es) still running after exit")


def progress(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def size_text(size: float) -> str:
    return f"{size / GB:.1f} GB" if size >= GB else f"{size / MB:.0f} MB"
