"""pytest's root configuration: `pytest --nbval` on the chapters compares training results
within their declared tolerances (tests/portable_outputs.py), everything else exactly."""
pytest_plugins = ["tests.portable_outputs"]
