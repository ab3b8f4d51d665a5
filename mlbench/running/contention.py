"""What a job got from the machine while it ran, and whether the machine was busy before a
run: other processes' CPU time beside ours, read from the kernel's counters, and the rule
that calls a timing disturbed (docs/running.md, "Disturbed timings", states it for users).

One reading is two samples of the same counters: ``/proc/stat`` (the busy time of every CPU
this process may run on, the hypervisor's steal included) and the CPU time of this process
and its descendants (``getrusage`` for it and its reaped children, ``/proc/PID/stat`` for
children still alive, such as the job forkserver while the pre-run check watches). What the
CPUs were busy with, less what we used ourselves, is what other work took from us. Chosen
over the load average (a minute-long decaying mean: it cannot say which job a burst hit)
and over per-thread run-queue waits (``/proc/self/task/*/schedstat``: a thread that exits,
as OpenMP's and a framework's do, takes its figures with it, and a job that runs more
threads than cores waits on its own threads). The cost is two samples of about 0.2 ms
each: /proc/stat, and one small read per thread for the children it has.

Where ``/proc/stat`` does not exist (macOS), ``sample`` returns None: nothing is recorded
and nothing is ever flagged.
"""

from __future__ import annotations

import math
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# /proc/stat's columns after the CPU's name; guest time is already inside user and nice.
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user, nice, system, irq, softirq, steal (not idle, iowait)
STEAL_FIELD = 7

# The rule (docs/running.md). A job is disturbed when other processes used, on average over
# its timed window, more cores than it left free (the usable cores beyond its --threads; none
# without --threads, since a job may then use every core) plus a tolerance: at least 0.2 of
# a core (mlbench's own parent process polls twice a second; a quiet machine's daemons use a
# few hundredths of a core; a Dask cluster's scheduler and workers some more), else a tenth
# of the cores the job may use (others taking that much slow a job using all of them by
# about 1.1x, the least slowdown worth a flag). Beyond that, an absolute floor: each CPU's
# counters move in whole ticks (10 ms at 100 Hz), so each CPU's busy time is known to a
# tick at each of the two samples; others must exceed the allowance by that much too, which
# is what keeps a short window (a 0.1 s predict) from being flagged on tick noise.
TOLERANCE_CORES = 0.2
TOLERANCE_SHARE = 0.1
FLOOR_TICKS_PER_CPU = 2
# ...and only when the cores were all busy, ours and others' together, within this much of
# a core: otherwise a core stood idle that the job could have run on.
SATURATED_SLACK = 0.25
# Before a run: busy when others use more than a quarter of a core over the time watched,
# from the command's start to its first job. A quarter, not the jobs' 0.2: over so short a
# window the ticks' floor weighs more, and this line is about work that is there all along
# (another process spinning, a build, a second benchmark), a whole core or more; a passing
# daemon is not worth a line. At least 0.3 s are watched (on 2 cores the floor then adds
# 0.13 of a core): a fresh `mlbench run` takes a second or more to reach its first job
# (imports, the worker server, the data), so the watch costs it nothing; a run started again
# in a warm process (the test suite's) gets there in 0.1 s and waits out the rest, which a
# longer minimum would make cost every such run.
BUSY_CORES = 0.25
BUSY_WATCH_SECONDS = 0.3


@dataclass(frozen=True)
class Sample:
    """The counters at one moment."""

    at: float  # time.perf_counter()
    busy_seconds: float  # CPU time the usable CPUs spent on anything (steal included)
    steal_seconds: float  # of which the hypervisor gave to other machines
    own_seconds: float  # CPU time of this process and its descendants
    cpus: int  # usable CPUs counted


@dataclass(frozen=True)
class Reading:
    """What a window between two samples got: its wall time, the cores others and we used
    on average, and the steal."""

    seconds: float
    others_cores: float  # other processes' CPU seconds / wall seconds, on the usable CPUs
    steal_seconds: float
    own_cores: float  # our CPU seconds / wall seconds
    usable_cores: int

    def disturbed(self, threads: int | None) -> bool:
        return is_disturbed(self.others_cores, self.seconds, self.usable_cores, threads,
                            self.own_cores)


def usable_cpus() -> set[int] | None:
    """The CPUs this process may run on; None where the platform does not say."""
    return set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def sample(cpus: set[int] | None = None) -> Sample | None:
    """Read the counters now; None where there is no /proc/stat."""
    try:
        lines = (PROC / "stat").read_text().splitlines()
    except OSError:
        return None
    own = own_cpu_seconds()  # right after /proc/stat, so both describe the same moment
    at = time.perf_counter()
    cpus = usable_cpus() if cpus is None else cpus
    busy = steal = 0
    counted = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        if cpus is not None and int(name[3:]) not in cpus:
            continue  # another container's CPUs, or cores this job is pinned away from
        values = [int(value) for value in rest.split()]
        busy += sum(values[index] for index in BUSY_FIELDS if index < len(values))
        steal += values[STEAL_FIELD] if len(values) > STEAL_FIELD else 0
        counted += 1
    if not counted:
        return None
    return Sample(at, busy / TICKS_PER_SECOND, steal / TICKS_PER_SECOND, own, counted)


def between(start: Sample | None, end: Sample | None) -> Reading | None:
    """What the window from ``start`` to ``end`` got; None if either is missing."""
    if start is None or end is None or end.at <= start.at:
        return None
    seconds = end.at - start.at
    own = max(0.0, end.own_seconds - start.own_seconds)
    others = max(0.0, end.busy_seconds - start.busy_seconds - own)
    return Reading(seconds=seconds, others_cores=others / seconds,
                   steal_seconds=max(0.0, end.steal_seconds - start.steal_seconds),
                   own_cores=own / seconds, usable_cores=end.cpus)


def is_disturbed(others_cores: float, seconds: float, usable_cores: int,
                 threads: int | None, own_cores: float = math.inf) -> bool:
    """The rule: others used more than the cores the job left free, plus the tolerance, plus
    the ticks' floor (see the constants above); and the cores were all in use, ours and
    others' together (within SATURATED_SLACK and the floor): where a core stayed idle, the
    job could have had it, so others took nothing it wanted (a job that sleeps or waits on
    its disk beside a busy core). ``own_cores`` unknown: taken as saturated."""
    uses = usable_cores if threads is None else max(1, min(threads, usable_cores))
    allowed = usable_cores - uses + max(TOLERANCE_CORES, TOLERANCE_SHARE * uses)
    floor = FLOOR_TICKS_PER_CPU * usable_cores / TICKS_PER_SECOND
    saturated = ((others_cores + own_cores) * seconds
                 >= (usable_cores - SATURATED_SLACK) * seconds - floor)
    return saturated and others_cores * seconds > allowed * seconds + floor


def is_busy(reading: Reading) -> bool:
    """The pre-run rule: others used more than BUSY_CORES, beyond the ticks' floor."""
    floor = FLOOR_TICKS_PER_CPU * reading.usable_cores / TICKS_PER_SECOND
    return reading.others_cores * reading.seconds > BUSY_CORES * reading.seconds + floor


def own_cpu_seconds() -> float:
    """CPU time of this process (every thread), its reaped children, and its descendants
    still alive (each with what it reaped), so a forkserver's imports or a plugin's helper
    process count as ours, not as others'."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    for pid in descendants(os.getpid()):
        total += _process_seconds(pid)
    return total


def descendants(pid: int) -> list[int]:
    """Live descendants of ``pid`` from /proc/PID/task/*/children (Linux 3.5+, where the
    kernel has CONFIG_PROC_CHILDREN; elsewhere none are found and their CPU counts as
    others')."""
    found: list[int] = []
    waiting = [pid]
    while waiting:
        parent = waiting.pop()
        try:
            tasks = list((PROC / str(parent) / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = [int(child) for child in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
            found += children
            waiting += children
    return found


def _process_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of a live process, in seconds; 0 if it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    fields = text.rpartition(")")[2].split()  # after the command name, which may hold spaces
    try:
        return sum(int(value) for value in fields[11:15]) / TICKS_PER_SECOND
    except (ValueError, IndexError):
        return 0.0


class BusyWatch:
    """The pre-run check: a sample now, and ``reading()`` the window since, waiting until at
    least BUSY_WATCH_SECONDS have passed. Started first, read when the run is about to start
    its jobs, so the watch overlaps with the forkserver's start and the data's loading."""

    def __init__(self) -> None:
        self.start = sample()

    def reading(self) -> Reading | None:
        if self.start is None:
            return None
        wait = self.start.at + BUSY_WATCH_SECONDS - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        return between(self.start, sample())

    def busy_line(self, estimate: bool = False) -> str | None:
        """The one line to say, if the machine was busy; None if not, or where unknown. For
        ``estimate``, said after it, of the whole estimate: its small fits are this process's
        descendants, so they are not counted as others'."""
        reading = self.reading()
        if reading is None or not is_busy(reading):
            return None
        used = f"{reading.others_cores:.1f} of its {reading.usable_cores} cores"
        if estimate:
            return (f"mlbench: the machine was busy (other processes used {used} while "
                    "the estimate ran); its times are likely too long")
        return (f"mlbench: the machine is busy (other processes are using {used}); timings "
                "will be flagged where disturbed")
