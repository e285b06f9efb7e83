"""pytest's root configuration: `pytest --nbval` on the chapters compares training results
within their declared tolerances (tests/portable_outputs.py), everything else exactly; at a
test's timeout, the processes it started are stopped, printing where they were
(tests/processes.py)."""

pytest_plugins = ["tests.portable_outputs", "tests.processes"]
