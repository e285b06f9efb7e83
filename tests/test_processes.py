"""The guard that keeps tests with processes from hanging (tests/processes.py): a stuck process
fails its test at the deadline, named, with where it was stuck, and nothing is left running; and
at pytest-timeout's backstop the processes a timed-out test started are stopped the same way."""

import os
import pathlib
import re
import signal
import sys
import time

import pytest

from book_files import ROOT
from processes import Processes, alive, run

# Where /proc cannot list a process's children, a command's whole process group is stopped at once.
LINUX = pytest.mark.skipif(
    not os.path.exists("/proc/self/stat"), reason="lists processes from Linux's /proc"
)

# A command stuck in its line 4, after starting a child that is stuck too.
SLEEPER = """import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(1000)
"""
# A test that times out while a process it forked is stuck in its line 7.
TIMES_OUT = """
import multiprocessing
import time


def _nap():
    time.sleep(1000)


def test_hangs():
    child = multiprocessing.get_context("fork").Process(target=_nap)
    child.start()
    open("child.pid", "w").write(str(child.pid))
    child.join()
"""


def _stuck(ready: str | None = None):
    if ready:
        pathlib.Path(ready).touch()
    time.sleep(1000)


def _done():
    pass


def _raises_once(ready: str):
    """Fail, once the peer is stuck (so that its traceback shows where)."""
    while not os.path.exists(ready):
        time.sleep(0.01)
    raise ValueError("boom")


def test_a_stuck_worker_fails_at_the_deadline_named_with_its_traceback(tmp_path):
    start = time.monotonic()
    with (
        pytest.raises(pytest.fail.Exception) as failure,
        Processes(tmp_path, timeout=1.5) as processes,
    ):
        processes.worker("rank 0", _done)
        processes.worker("rank 1", _stuck)
        processes.wait()
    assert time.monotonic() - start < 1.5 + 3
    message = str(failure.value)
    assert message.startswith("rank 1 did not finish within the 1.5 s deadline"), message
    assert re.search(r'File ".*test_processes\.py", line \d+ in _stuck', message), message
    assert "rank 0" not in message
    # the frames the worker inherited from this process are left out
    assert "multiprocessing" not in message
    done, stuck = (p.handle for p in processes.started)
    # faulthandler dumped, then it aborted
    assert done.exitcode == 0 and stuck.exitcode == -signal.SIGABRT


def test_a_failing_worker_is_named_with_its_exception_and_its_waiting_peer_is_stopped_at_once(
    tmp_path,
):
    start = time.monotonic()
    ready = str(tmp_path / "ready")
    with (
        pytest.raises(pytest.fail.Exception) as failure,
        Processes(tmp_path, timeout=60) as processes,
    ):
        # as a peer waits in a collective for a rank that died
        processes.worker("rank 0", _stuck, ready)
        processes.worker("rank 1", _raises_once, ready)
        processes.wait()
    assert time.monotonic() - start < 5
    message = str(failure.value)
    assert message.startswith("rank 1 failed (exit code 1); its traceback:\nTraceback"), message
    assert 'in _raises_once\n    raise ValueError("boom")\nValueError: boom' in message
    stopped = r"rank 0 was still running then and was stopped; its traceback:.*line \d+ in _stuck"
    assert re.search(stopped, message, re.S), message


@LINUX
def test_a_stuck_command_fails_at_the_deadline_and_its_children_are_stopped_too(tmp_path):
    start = time.monotonic()
    with pytest.raises(pytest.fail.Exception) as failure:
        run(
            [sys.executable, "-c", SLEEPER, str(tmp_path / "pid")],
            name="the sleeper command",
            timeout=2,
        )
    assert time.monotonic() - start < 2 + 3
    message = str(failure.value)
    assert message.startswith("the sleeper command did not finish within the 2 s deadline"), message
    assert 'File "<string>", line 4 in <module>' in message  # its time.sleep(1000)
    child = int((tmp_path / "pid").read_text())
    for _ in range(50):  # SIGKILL is delivered at once; its new parent reaps it soon
        if not alive(child):
            break
        time.sleep(0.1)
    assert not alive(child), "the command's own child outlived it"


def test_run_returns_what_subprocess_run_would():
    r = run([sys.executable, "-c", "import sys; print('out'); sys.exit('err')"], timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (1, "out\n", "err\n")
    with pytest.raises(
        pytest.fail.Exception, match=r"^`.*` failed \(exit code 1\); its stderr .*:\nerr$"
    ):
        run([sys.executable, "-c", "import sys; sys.exit('err')"], timeout=60, check=True)


@LINUX
def test_the_backstop_timeout_stops_what_the_test_started_and_says_where_each_was(tmp_path):
    (tmp_path / "test_times_out.py").write_text(TIMES_OUT)
    r = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.processes",
            "--timeout=1",
            "--timeout-method=thread",
            "test_times_out.py",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        name="the inner pytest",
        timeout=60,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Timeout: test_times_out.py::test_hangs ran over 1 s (pytest-timeout)" in r.stdout
    assert re.search(
        r'Stack of MainThread.*test_times_out\.py", line 14, in test_hangs', r.stdout, re.S
    ), r.stdout
    assert "Stopping the processes it started (1; their tracebacks go to stderr)" in r.stdout
    child = int((tmp_path / "child.pid").read_text())
    assert re.search(rf"--- SIGABRT to pid {child}: .*\n.*line 7 in _nap", r.stderr, re.S), r.stderr
    assert not alive(child)
