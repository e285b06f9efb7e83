"""Processes a test starts, under one deadline, so that no test can hang on them.

`Processes` starts commands (`command`: subprocess.Popen) and Python functions in forked workers
(`worker`), each under a name ("rank 1", "the torchrun command"), and `wait()`s for all of them
until one deadline. A worker that raises or dies, a command that exits non-zero, and whatever is
still running at the deadline fail the test with a message that names it and shows where it
was: a process still running gets SIGABRT, which faulthandler turns into a traceback of each of
its threads (workers enable it themselves; commands' Python processes get PYTHONFAULTHANDLER=1),
then SIGKILL. Each process leads a process group of its own, and is stopped with that group and
all its descendants (torchrun's workers, a kernel). `run` is `subprocess.run` for one command on
these terms.

pytest-timeout (pyproject.toml) is the backstop for everything else. This module is also a pytest
plugin (the root conftest.py loads it) that adds one step to that backstop: before it ends the
run, every process the test process started (compare's pool workers, DataLoader workers, a
kernel) is stopped the same way, printing where it was, so that none outlives the run.
"""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import pathlib
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import pytest

GRACE = 5.0  # seconds to wait for a process to exit once killed
TAIL = 8000  # characters of a process's log or stderr quoted in a failure message
FORK = multiprocessing.get_context("fork")  # workers run a function of the test module as it is


def _slug(name: str) -> str:
    return re.sub(r"\W+", "_", name).strip("_") or "process"


def _tail(path: pathlib.Path) -> str:
    """The end of a log: of each line what a terminal would show (a progress bar's last state),
    without faulthandler's one-line list of extension modules."""
    text = path.read_bytes().decode(errors="replace") if path.exists() else ""
    lines = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n")]
    text = "\n".join(line for line in lines if not line.startswith("Extension modules:"))
    return text[-TAIL:].strip() or "(nothing)"


def _below_bootstrap(text: str) -> str:
    """A forked worker's tracebacks without the frames it inherited from the test process (those
    under its `_bootstrap`, which faulthandler lists last)."""
    lines, inherited = [], False
    for line in text.splitlines():
        if inherited and line.startswith("  File "):
            continue
        inherited = bool(re.search(r'processes\.py", line \d+ in _bootstrap$', line))
        lines.append(line)
    return "\n".join(lines)


def alive(pid: int) -> bool:
    """Still running (a zombie, dead but not yet reaped by its parent, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = pathlib.Path(f"/proc/{pid}/stat")  # Linux
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return not stat.parent.parent.joinpath("self").exists()  # no /proc: trust os.kill


def _family(leader: int, group: bool = True) -> list[int]:
    """The live processes of `leader`'s process group (if `group`) and all their descendants
    (torchrun starts each of its workers in a session of its own), the leader first. They are
    read from Linux's /proc; elsewhere the list is empty."""
    table = {}
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if state != "Z":
            table[int(stat.parent.name)] = (int(ppid), int(pgrp))
    family = {
        pid for pid, (_, pgrp) in table.items() if pid == leader or (group and pgrp == leader)
    }
    while True:
        children = {pid for pid, (ppid, _) in table.items() if ppid in family} - family
        if not children:
            return sorted(family, key=lambda pid: (pid != leader, pid))
        family |= children


def _who(pid: int) -> str:
    """`pid 123 (RANK=1): python -m drift train ...`, as far as /proc tells."""
    proc = pathlib.Path(f"/proc/{pid}")
    try:
        command = " ".join(
            proc.joinpath("cmdline").read_bytes().decode(errors="replace").split("\0")
        ).strip()
        environ = proc.joinpath("environ").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return f"pid {pid}"
    ranks = [v for v in environ if v.startswith("RANK=")]
    return f"pid {pid}{f' ({ranks[0]})' if ranks else ''}: {command}"


def _abort(pids, announce=None) -> None:
    """SIGABRT to each of `pids` in turn, each waited for (up to a second) before the next, so that
    their tracebacks (faulthandler) do not interleave in a shared stderr; then SIGKILL to any left.
    `announce(text)` is called before each, to say whose tracebacks follow."""
    for pid in pids:
        if not alive(pid):
            continue
        if announce:
            announce(f"\n--- SIGABRT to {_who(pid)} ---\n")
        try:
            os.kill(pid, signal.SIGABRT)
        except ProcessLookupError:
            continue
        end = time.monotonic() + 1.0
        while alive(pid) and time.monotonic() < end:
            time.sleep(0.01)
    _kill(pids)


def _kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _bootstrap(target, args, log_path: str) -> None:
    """A forked worker: its own process group, faulthandler into its log, any exception logged."""
    os.setsid()
    try:
        import resource

        # SIGABRT at the deadline leaves no core file
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    log = open(log_path, "w")
    faulthandler.enable(log, all_threads=True)
    try:
        target(*args)
    except BaseException:
        traceback.print_exc(file=log)
        log.flush()
        os._exit(1)


class _Process:
    """One started process: a Popen command or a forked worker."""

    def __init__(
        self, name: str, handle, log: pathlib.Path, stdout: pathlib.Path | None = None, check=True
    ):
        self.name, self.handle, self.log, self.stdout, self.check = name, handle, log, stdout, check

    @property
    def is_command(self) -> bool:
        return isinstance(self.handle, subprocess.Popen)

    def exitcode(self) -> int | None:
        return self.handle.poll() if self.is_command else self.handle.exitcode

    def _signal_group(self, sig: int) -> None:
        try:
            if os.getpgid(self.handle.pid) != self.handle.pid:
                os.kill(self.handle.pid, sig)  # a worker before its setsid
                return
        except ProcessLookupError:
            pass  # reaped already; its group may outlive it
        try:
            os.killpg(self.handle.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def abort(self) -> None:
        """Stop it and its family, each printing its tracebacks first (`_abort`); where /proc
        cannot list them, its process group at once."""
        family = _family(self.handle.pid)
        if not family:
            self._signal_group(signal.SIGABRT)
            self.join(GRACE)
        announce = None
        if self.is_command:  # a shared stderr

            def announce(text):
                with open(self.log, "a") as log:
                    log.write(text)

        _abort(family, announce)
        self.kill()

    def kill(self) -> None:
        """SIGKILL to it, its process group and its descendants, if it is still running (once it
        has been reaped, its pid may be another process's); wait for it."""
        if self.exitcode() is not None:
            return
        _kill(_family(self.handle.pid))
        self._signal_group(signal.SIGKILL)
        self.join(GRACE)

    def join(self, timeout: float) -> None:
        if self.is_command:
            try:
                self.handle.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        else:
            self.handle.join(timeout)

    def failed(self) -> bool:
        code = self.exitcode()
        return code is not None and code != 0 and (self.check or not self.is_command)

    def describe(self) -> str:
        code = self.exitcode()
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        return f"{self.name} failed ({how}); {self.report()}"

    def report(self) -> str:
        if self.is_command:
            return (
                f"its stderr (the end; faulthandler's tracebacks, if any, last):\n{_tail(self.log)}"
            )
        return f"its traceback:\n{_below_bootstrap(_tail(self.log))}"


class Processes:
    """Processes under one deadline of `timeout` seconds from now; logs go to `directory`.

    Use as a context manager: leaving it stops whatever is still running (an error in the test
    between starting and waiting leaves no process behind).
    """

    def __init__(self, directory, timeout: float):
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.started: list[_Process] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc) -> None:
        for p in self.started:
            p.kill()

    def command(self, name: str, args, *, check: bool = True, env=None, **popen_kwargs) -> None:
        """Start `args` (stdin empty, stdout and stderr into files); `check`: a non-zero exit
        fails."""
        assert all(p.name != name for p in self.started), f"two processes named {name!r}"
        slug = _slug(name)
        stdout, stderr = self.directory / f"{slug}.stdout", self.directory / f"{slug}.stderr"
        env = {**(os.environ if env is None else env), "PYTHONFAULTHANDLER": "1"}
        with open(stdout, "w") as out, open(stderr, "a") as err:  # "a": abort() appends to it too
            handle = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                start_new_session=True,
                **popen_kwargs,
            )
        self.started.append(_Process(name, handle, stderr, stdout, check))

    def worker(self, name: str, target, *args) -> None:
        """Run `target(*args)` in a forked process."""
        assert all(p.name != name for p in self.started), f"two processes named {name!r}"
        log = self.directory / f"{_slug(name)}.log"
        handle = FORK.Process(target=_bootstrap, args=(target, args, str(log)), name=name)
        handle.start()
        self.started.append(_Process(name, handle, log))

    def wait(self) -> dict[str, subprocess.CompletedProcess]:
        """Wait until all have finished; return each command's CompletedProcess, by name. Fails the
        test if any fails (then the others are stopped: a peer of a failed rank would wait for it
        forever) or if any is still running at the deadline."""
        while time.monotonic() < self.deadline:
            if any(p.failed() for p in self.started) or all(
                p.exitcode() is not None for p in self.started
            ):
                break
            time.sleep(0.05)
        failed = [p for p in self.started if p.failed()]
        running = [p for p in self.started if p.exitcode() is None]
        for p in running:
            p.abort()
        if failed:
            stopped = [
                f"{p.name} was still running then and was stopped; {p.report()}" for p in running
            ]
        else:
            stopped = [
                f"{p.name} did not finish within the {self.timeout:g} s deadline (it hangs, or "
                f"this machine is far slower than expected) and was stopped; {p.report()}"
                for p in running
            ]
        if failed or running:
            pytest.fail("\n\n".join([p.describe() for p in failed] + stopped), pytrace=False)
        return {
            p.name: subprocess.CompletedProcess(
                p.handle.args,
                p.exitcode(),
                p.stdout.read_text(errors="replace"),
                p.log.read_text(errors="replace"),
            )
            for p in self.started
            if p.is_command
        }


def run(args, *, timeout: float, name: str | None = None, check: bool = False, **popen_kwargs):
    """`subprocess.run(args, capture_output=True, text=True, timeout=timeout)` that, on the timeout,
    fails the test with a message naming the command and showing where its Python processes were."""
    name = name or f"`{shlex.join(str(a) for a in args)}`"
    with tempfile.TemporaryDirectory() as directory, Processes(directory, timeout) as processes:
        processes.command(name, args, check=check, **popen_kwargs)
        return processes.wait()[name]


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_timeout_set_timer(item, settings):
    """pytest-timeout's thread method (pyproject.toml): at the timeout, print the test's captured
    output and every thread's stack, then end the run; with one more step before the end: stop
    every process this one started, each printing where it was (forked children inherit pytest's
    faulthandler), so that none outlives the run holding its output open. The stacks come first:
    a stopped pool worker would wake the test up and move it on."""
    if settings.method != "thread":
        return None  # pytest-timeout's own
    import pytest_timeout

    def expire():
        if not settings.disable_debugger_detection and pytest_timeout.is_debugging():
            return
        terminal = item.config.get_terminal_writer()
        try:
            capture = item.config.pluginmanager.getplugin("capturemanager")
            out = err = None
            if capture:
                capture.suspend_global_capture(item)
                out, err = capture.read_global_capture()
            terminal.sep(
                "+", f"Timeout: {item.nodeid} ran over {settings.timeout:g} s (pytest-timeout)"
            )
            for title, text in (("Captured stdout", out), ("Captured stderr", err)):
                if text:
                    terminal.sep("~", title)
                    terminal.write(text)
            pytest_timeout.dump_stacks(terminal)  # this process's threads: where the test was
            children = [pid for pid in _family(os.getpid(), group=False) if pid != os.getpid()]
            terminal.sep(
                "~",
                f"Stopping the processes it started ({len(children)}; their tracebacks go to "
                "stderr)",
            )
            terminal.flush()

            def announce(text):
                sys.stderr.write(text)
                sys.stderr.flush()

            _abort(children, announce)
            terminal.sep("+", "Timeout")
        except Exception:
            traceback.print_exc()
        finally:
            terminal.flush()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)

    timer = threading.Timer(settings.timeout, expire)
    timer.name = f"pytest_timeout {item.nodeid}"

    def cancel():
        timer.cancel()
        timer.join()

    item.cancel_timeout = cancel  # what pytest-timeout's pytest_timeout_cancel_timer calls
    timer.start()
    return True
