"""The teacher (the follower): a function of the student's parameters.

`EMATeacher` keeps phi_{t-1} as detached tensors. `follow(student)` returns
phi(theta) = alpha * phi_{t-1} + (1 - alpha) * theta, differentiable in theta, so autograd can
carry the Stackelberg term d phi / d theta = (1 - alpha) I. After the step, `update` stores
exactly the response that the step's loss used, phi_t = sg(phi(theta_t)), not a mix with the
stepped student theta_{t+1}: the next step's follow adds theta_{t+1} itself, so every student
iterate enters the average once, with weight (1 - alpha) alpha^k. Buffers (e.g. BatchNorm
statistics) are averaged the same way; integer buffers (counters) are copied. The teacher has
no module of its own: it runs the student's code on its own tensors through
`torch.func.functional_call`, so any `nn.Module` works as the student.

Policy: the teacher always predicts in eval mode (dropout off, BatchNorm on its averaged
running statistics), so its pseudo-labels are deterministic functions of phi.

`CopyTeacher` is classic self-training's teacher: a frozen copy refreshed every K steps.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .. import inputs
from ..models import eval_mode, logits_of

State = dict[str, Tensor]


_FOREACH_LERP = getattr(torch, "_foreach_lerp", None)
"""torch's fused lerp over a list of tensors (private: used only where present, see
`ema_response`)."""


def ema_response(previous: State, current: State, alpha: float | Tensor) -> State:
    """The EMA teacher's response phi = alpha * previous + (1 - alpha) * current, name by name of
    `current`: its floating-point tensors as `torch.lerp(previous, current, 1 - alpha)`,
    differentiable in `current` (the Stackelberg term d phi / d current = (1 - alpha) I); its
    other tensors (integer counters) copied, detached. alpha: a number, or a 0-d tensor (one
    run's alpha, as `drift.training.batched` passes it under vmap). Every EMA response in the
    package is this function: `EMATeacher.follow` and the batched engine's objective. (A copied
    teacher is no response: it refreshes by copying.)

    With a number alpha and torch's `_foreach_lerp` present, the floating tensors go through that
    one fused call (fewer kernel launches on a GPU); it computes torch.lerp's formula, bit for bit
    (measured on the CPU: values and gradients, alpha from 0 to 0.999)."""
    weight = 1.0 - alpha
    floats = [k for k, v in current.items() if v.is_floating_point()]
    if _FOREACH_LERP is not None and floats and not isinstance(weight, Tensor):
        mixed = _FOREACH_LERP([previous[k] for k in floats], [current[k] for k in floats], weight)
    else:
        mixed = [torch.lerp(previous[k], current[k], weight) for k in floats]
    copied = {k: v.detach().clone() for k, v in current.items() if not v.is_floating_point()}
    return {**copied, **dict(zip(floats, mixed))}


def _student_state(student: nn.Module) -> tuple[State, State]:
    return dict(student.named_parameters()), dict(student.named_buffers())


def _detached_copy(student: nn.Module) -> tuple[State, State]:
    """Detached copies of the student's parameters and buffers."""
    return tuple(
        {k: v.detach().clone() for k, v in state.items()} for state in _student_state(student)
    )


class EMATeacher:
    """Exponential moving average of a student; phi starts equal to theta."""

    def __init__(self, student: nn.Module, alpha: float):
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"alpha must be in [0, 1) (the EMA decay of the teacher); got {alpha}")
        self.alpha = float(alpha)
        self.params, self.buffers = _detached_copy(student)

    def follow(self, student: nn.Module) -> State:
        """phi(theta) for params and buffers: differentiable in the student's parameters."""
        params, buffers = _student_state(student)
        return {
            **ema_response(self.params, params, self.alpha),
            **ema_response(self.buffers, buffers, self.alpha),
        }

    @torch.no_grad()
    def update(
        self, student: nn.Module, step: int | None = None, *, response: State | None = None
    ) -> None:
        """phi_t <- sg(phi(theta_t)). `response` is the phi(theta_t) that the step's loss used
        (`follow`'s value, e.g. `LeaderTerms.teacher_state`); without it, `follow(student)` is
        taken now, so call it before the optimizer step moves the student to theta_{t+1}."""
        response = self.follow(student) if response is None else response
        self.params = {k: response[k].detach() for k in self.params}
        self.buffers = {k: response[k].detach() for k in self.buffers}

    def state(self) -> State:
        """The teacher's current (detached) parameters and buffers."""
        return {**self.params, **self.buffers}

    def logits(self, student: nn.Module, x: inputs.Inputs, state: State | None = None) -> Tensor:
        """Teacher logits f(x; phi), (N, C), in eval mode (`logits_of` the student's output); a
        dict x is passed as keyword arguments. `state` defaults to `self.state()`."""
        args, kwargs = inputs.as_args(x)
        with eval_mode(student):
            return logits_of(
                functional_call(student, self.state() if state is None else state, args, kwargs)
            )

    def state_dict(self) -> dict:
        return {"params": self.params, "buffers": self.buffers}

    def load_state_dict(self, sd: dict) -> None:
        self.params = {k: v.clone() for k, v in sd["params"].items()}
        self.buffers = {k: v.clone() for k, v in sd["buffers"].items()}


class CopyTeacher(EMATeacher):
    """A frozen copy of the student, refreshed after every `refresh_every`-th step."""

    def __init__(self, student: nn.Module, refresh_every: int):
        super().__init__(student, alpha=0.0)
        self.refresh_every = refresh_every

    def follow(self, student: nn.Module) -> State:
        """The frozen copy: not a function of the current student, so it carries no gradient."""
        return self.state()

    @torch.no_grad()
    def update(
        self, student: nn.Module, step: int | None = None, *, response: State | None = None
    ) -> None:
        """Copy the student when `step` (0-based, just taken) completes a refresh period; call
        it after the optimizer step. `response` (the frozen copy the loss used) is not needed."""
        if step is not None and (step + 1) % self.refresh_every == 0:
            self.params, self.buffers = _detached_copy(student)


def make_teacher(method, student: nn.Module) -> EMATeacher:
    """The teacher a `Method` asks for."""
    if method.teacher == "copy":
        return CopyTeacher(student, method.refresh_every)
    return EMATeacher(student, method.alpha)
