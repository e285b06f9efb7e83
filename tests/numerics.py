"""The book's numerics contract (CONTRIBUTING.md, rule 8): one pinned setting, and the others.

Float rounding depends on the code path each library picks for the CPU: ATen's own kernels
(`ATEN_CPU_CAPABILITY`), MKL's matrix products and vector maths (`MKL_CBWR`,
`MKL_ENABLE_INSTRUCTIONS`) and oneDNN's convolutions (`ONEDNN_MAX_CPU_ISA`). Training is chaotic,
so a difference in the last bit grows into a different printed accuracy.

- Tier 1, PINNED: `make execute` and `make test` run under one setting that fixes every library's
  path at AVX2 with one thread, and MKL's in its conditional-numerical-reproducibility mode
  (STRICT: independent of memory alignment). On x86-64 CPUs with AVX2 it gives the same bits,
  and nbval compares the chapters exactly. Whether it does here is checked, not assumed: the
  FINGERPRINT of a few short training runs (one per kind of model the chapters train) must
  equal the one recorded when the chapters were executed; where it does not (ARM, a GPU,
  another torch, a CPU the pin does not reach), the comparison falls back to tier 2 and says so.
- Tier 2, OTHER settings: `make test-numerics` runs the chapters unpinned; every assert must
  hold, and printed training results are compared within the tolerances their cells declare.

    python tests/numerics.py env NAME          # env(1) arguments for a setting
                                               # (pinned, native, sse)
    python tests/numerics.py fingerprint       # this environment's fingerprint, as JSON
    python tests/numerics.py fingerprint --write   # record it (make execute does, pinned)
    python tests/numerics.py tier              # which tier nbval would use here, and why

This module imports torch only when a fingerprint is taken, so `make` can read settings cheaply.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path

PINNED = {
    "ATEN_CPU_CAPABILITY": "avx2",  # ATen's kernels
    "MKL_CBWR": "AVX2,STRICT",  # MKL's CNR branch; STRICT: results independent of alignment
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",  # an explicit AVX512 here would override MKL_CBWR (measured)
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN's convolutions
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
# Tier 2: settings that differ from the pin on any x86-64 CPU with AVX2, together varying ATen,
# MKL and oneDNN. "native" is what a reader's machine runs: every library picks its own path.
OTHER = {
    "native": {"OMP_NUM_THREADS": "1"},
    "sse": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_CBWR": "COMPATIBLE",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "OMP_NUM_THREADS": "1",
    },
}
FINGERPRINT = Path(__file__).with_name("pinned_fingerprint.json")


def setting(name: str) -> dict[str, str]:
    """The variables of a named setting: "pinned" or one of OTHER."""
    if name == "pinned":
        return dict(PINNED)
    if name not in OTHER:
        raise ValueError(
            f"unknown numeric setting {name!r}; choose 'pinned' or one of {sorted(OTHER)}"
        )
    return dict(OTHER[name])


def environment(name: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default os.environ) with every pinned variable removed, then the setting's set."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in PINNED}
    return {**env, **setting(name)}


def env_arguments(name: str) -> str:
    """env(1) arguments that give a command the setting: `-u VAR ...` then `VAR=value ...`."""
    unset = [f"-u {k}" for k in PINNED if k not in setting(name)]
    return " ".join(unset + [f"{k}={v}" for k, v in setting(name).items()])


def is_pinned(env=None) -> bool:
    """True when every pinned variable has its pinned value in `env` (default os.environ)."""
    env = os.environ if env is None else env
    return all(env.get(k) == v for k, v in PINNED.items())


def _digest(tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def fingerprint() -> dict[str, str]:
    """Bit-level digests of short runs of each kind of model the chapters train, on the CPU:
    an MLP (MKL's matrix products, ATen's elementwise kernels and Adam), a 1-D and a 2-D CNN
    (oneDNN's convolutions), a Transformer (attention, layer norm) and two batched runs of
    `compare` (vmap: batched matrix products). About 5 s on one core."""
    import torch

    import drift

    torch.set_num_threads(1)
    digests = {
        "torch": torch.__version__,
        "machine": platform.machine(),
        "aten": torch.backends.cpu.get_cpu_capability(),
    }
    g = torch.Generator().manual_seed(0)

    def data(shape, num_classes, *, tokens=False):
        def x(n):
            if tokens:
                return torch.randint(0, 16, (n, *shape), generator=g)
            return torch.randn(n, *shape, generator=g)

        y = lambda n: torch.randint(0, num_classes, (n,), generator=g)  # noqa: E731
        return drift.SemiSupervisedData(
            x_labeled=x(40),
            y_labeled=y(40),
            x_unlabeled=x(200),
            y_unlabeled=None,
            x_test=x(50),
            y_test=y(50),
            num_classes=num_classes,
        )

    runs = {
        "mlp": (data((64,), 10), "mlp"),
        "cnn1d": (data((40,), 10), "cnn"),
        "cnn2d": (data((8, 8), 10), "cnn"),
        "transformer": (data((12,), 3, tokens=True), "transformer"),
    }
    for name, (split, model) in runs.items():
        history = drift.train(
            "drift",
            split,
            model=model,
            steps=30,
            batch_size=16,
            device="cpu",
            progress=False,
            seed=0,
        )
        digests[name] = _digest(
            [*history.model.state_dict().values(), *history.teacher.state().values()]
        )
    results = drift.compare(
        ["mean_teacher", "drift"],
        runs["mlp"][0],
        seeds=2,
        steps=30,
        batch_size=16,
        workers=1,
        device="cpu",
        progress=False,
    )
    digests["vmap"] = _digest(torch.tensor(h.loss) for hs in results.histories.values() for h in hs)
    return digests


def tier() -> tuple[int, str]:
    """(1, why) when nbval may compare exactly here, else (2, why)."""
    if not is_pinned():
        return 2, "the environment is not the pinned one (make test sets it)"
    if not FINGERPRINT.exists():
        return 2, f"no recorded fingerprint ({FINGERPRINT.name}); make execute writes it"
    recorded = json.loads(FINGERPRINT.read_text())
    import torch

    if torch.cuda.is_available():
        return 2, "a CUDA GPU is present: the chapters train on it, and GPU kernels are not pinned"
    here = fingerprint()
    if here != recorded:
        differing = sorted(k for k in recorded if here.get(k) != recorded[k])
        return 2, (
            "the pin does not reproduce the recorded bits here (differing: "
            f"{', '.join(differing)}; "
            f"recorded under torch {recorded.get('torch')} on {recorded.get('machine')})"
        )
    return 1, "pinned, and this machine reproduces the recorded fingerprint"


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "env":
        print(env_arguments(argv[1]))
    elif argv[:1] == ["fingerprint"] and argv[1:] in ([], ["--write"]):
        digests = fingerprint()
        text = json.dumps(digests, indent=2) + "\n"
        if argv[1:] == ["--write"]:
            if not is_pinned():
                print(
                    "refusing to record a fingerprint outside the pinned environment "
                    f"(env {env_arguments('pinned')} ...)",
                    file=sys.stderr,
                )
                return 2
            FINGERPRINT.write_text(text)
        print(text, end="")
    elif argv == ["tier"]:
        print("tier %d: %s" % tier())
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main(sys.argv[1:]))
