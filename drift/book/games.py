"""Stackelberg games: a leader, a follower, and the leader's total gradient.

The follower answers the leader's move x with its best response y*(x) = argmin_y v(x, y); the
leader, who anticipates that answer, minimises its total cost U(x) = u(x, y*(x)). Differentiating
the follower's optimality condition d/dx [∂_y v(x, y*(x))] = 0 gives the implicit function theorem

    dy*/dx = -(∂²_yy v)^{-1} ∂²_yx v,                         (m, n)
    dU/dx  = ∂_x u + (dy*/dx)^T ∂_y u,                        (n,)   the Stackelberg gradient.

`implicit_gradient` computes it for any twice-differentiable torch costs (Hessian blocks by
torch.func). `QuadraticGame` is the scalar two-player quadratic game of chapter 3 in closed form,
with its best response, Stackelberg equilibrium, stationary point and the resting points and
update matrices of the gradient dynamics that `play` runs on it: simultaneous, sequential
(Gauss-Seidel) and Stackelberg play, and the two self-training analogues, "mean_teacher" and
"drift", against a follower that moves by an exponential moving average (EMA) towards its best
response.

Reference: Fiez, Chasnov and Ratliff, "Implicit learning dynamics in Stackelberg games:
equilibria characterization, convergence analysis, and empirical study", ICML 2020.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Callable

import numpy as np
import torch
from torch import Tensor
from torch.func import grad, jacrev
from ..validation import check_integer, check_real

__all__ = [
    "DYNAMICS",
    "EMA_DYNAMICS",
    "QuadraticGame",
    "implicit_gradient",
    "response_jacobian",
    "play",
]

DYNAMICS = ("simultaneous", "sequential", "stackelberg", "mean_teacher", "drift")
"""Gradient play on a game (see `play`): both players step on their partial gradients at the
same time ("simultaneous"); the leader steps, then the follower answers the new x ("sequential",
Gauss-Seidel); the leader steps on its Stackelberg (total) gradient while the follower steps on
its partial gradient ("stackelberg", Fiez et al., 2020). The last two are self-training's
analogues: the follower moves by an EMA with decay alpha towards its best response to the new x,
and the leader ignores it ("mean_teacher") or differentiates through its one-step response
y(x) = alpha y_t + (1 - alpha) y*(x), slope (1 - alpha) dy*/dx ("drift")."""

EMA_DYNAMICS = ("mean_teacher", "drift")
"""The dynamics whose follower is an EMA with decay `alpha` (no follower step size)."""

Cost = Callable[[Tensor, Tensor], Tensor]


# --------------------------------------------------------------------------------------------
# The implicit function theorem, for any costs


def _as_vector(name: str, value) -> tuple[Tensor, tuple[int, ...]]:
    t = torch.as_tensor(value)
    if not t.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (use float64 for checks); got {t.dtype}"
        )
    if t.dim() > 1:
        raise ValueError(
            f"{name} must be a scalar or a vector (shape () or (n,)); got shape {tuple(t.shape)}"
        )
    return t.reshape(-1), tuple(t.shape)


def response_jacobian(follower_cost: Cost, x, y) -> Tensor:
    """dy*/dx = -(∂²_yy v)^{-1} ∂²_yx v at (x, y), (m, n) for x (n,), y (m,) (scalars count as 1).

    `follower_cost` is v(x, y). `y` should be the follower's best response to `x` (where
    ∂_y v = 0); the formula is then the slope of y*(x). Raises ValueError when ∂²_yy v is not
    positive definite there (the follower's cost is not strongly convex in y, so its best response
    is not a unique smooth function of x).
    """
    x, _ = _as_vector("x", x)
    y, _ = _as_vector("y", y)

    def v(xv, yv):
        return follower_cost(xv, yv).reshape(())

    v_y = grad(v, argnums=1)  # reverse over reverse: no forward-mode AD needed
    h_yy = jacrev(v_y, argnums=1)(x, y)  # (m, m)
    h_yx = jacrev(v_y, argnums=0)(x, y)  # (m, n): d/dx of ∂_y v
    chol, info = torch.linalg.cholesky_ex(h_yy)
    if info.item() != 0:
        smallest = torch.linalg.eigvalsh(0.5 * (h_yy + h_yy.T)).min().item()
        raise ValueError(
            "follower_cost must be strongly convex in y at (x, y): its Hessian ∂²_yy v is not "
            f"positive definite (smallest eigenvalue {smallest:.3g}), so the best response y*(x) "
            "is not unique"
        )
    return -torch.cholesky_solve(h_yx, chol)


def implicit_gradient(leader_cost: Cost, follower_cost: Cost, x, y) -> Tensor:
    """The Stackelberg gradient ∂_x u + (dy*/dx)^T ∂_y u at (x, y), shaped like `x`.

    leader_cost u(x, y) and follower_cost v(x, y) are torch functions returning a scalar; x (n,)
    or (), y (m,) or () floating tensors. At y = y*(x) this is dU/dx for U(x) = u(x, y*(x)).
    Hessian blocks come from torch.func, so no formula needs to be written by hand.
    """
    x_vec, x_shape = _as_vector("x", x)
    y_vec, _ = _as_vector("y", y)

    def u(xv, yv):
        return leader_cost(xv.reshape(x_shape), yv).reshape(())

    def v(xv, yv):
        return follower_cost(xv.reshape(x_shape), yv).reshape(())

    u_x, u_y = grad(u, argnums=(0, 1))(x_vec, y_vec)  # (n,), (m,)
    slope = response_jacobian(v, x_vec, y_vec)  # (m, n)
    return (u_x + slope.T @ u_y).reshape(x_shape)


# --------------------------------------------------------------------------------------------
# The scalar quadratic game in closed form


@dataclass(frozen=True)
class QuadraticGame:
    """Two players with scalar moves x (leader) and y (follower) and quadratic costs

        u(x, y) = a x²/2 + b x y + c y²/2 + p x + q y      (the leader's),
        v(x, y) = d y²/2 + e x y + r y                      (the follower's;
                                                            x-only terms change nothing).

    a is the leader's own curvature, c the curvature of its cost in the follower's move, b and e
    couple the players, p and q are the leader's linear terms, d > 0 the follower's curvature and
    r its linear term. The follower's cost must be strongly convex in y (d > 0), so its best
    response y*(x) = -(e x + r) / d is unique, with slope dy*/dx = -e / d. Every method accepts
    Python floats, NumPy arrays or torch tensors for x and y.
    """

    a: float = 1.0
    b: float = 0.0
    c: float = 0.0
    p: float = 0.0
    q: float = 0.0
    d: float = 1.0
    e: float = 0.0
    r: float = 0.0

    def __post_init__(self):
        for fld in fields(self):
            object.__setattr__(self, fld.name, float(check_real(fld.name, getattr(self, fld.name))))
        if not self.d > 0:
            raise ValueError(
                f"d must be > 0: the follower's cost v must be strongly convex in y (∂²_yy v = d), "
                f"or its best response is not unique; got d={self.d}"
            )

    @classmethod
    def example(cls, coupling: float = 2.0) -> "QuadraticGame":
        """The game of chapter 3: u = -x²/2 + κ x y - 1.75 y, v = y²/2 - κ x y, κ = `coupling`.

        On its own the leader's cost is concave in x (a = -1), so no Nash equilibrium exists, and
        simultaneous play rotates (a + d = 0); but the follower copies x (y* = κ x), which makes
        the leader's total cost U(x) = (2κ² - 1) x²/2 - 1.75 κ x convex for κ > 1/sqrt(2). Below
        that (any finite κ is accepted) U is concave and `stackelberg_equilibrium` raises; at
        κ = 1 the stationary point is not unique and `stationary_point` raises.
        """
        check_real("coupling", coupling, hint="κ; e.g. 2.0")
        return cls(a=-1.0, b=coupling, c=0.0, p=0.0, q=-1.75, d=1.0, e=-coupling, r=0.0)

    # costs and partial derivatives -------------------------------------------------------
    def leader_cost(self, x, y):
        """u(x, y)."""
        return (
            0.5 * self.a * x * x + self.b * x * y + 0.5 * self.c * y * y + self.p * x + self.q * y
        )

    def follower_cost(self, x, y):
        """v(x, y)."""
        return 0.5 * self.d * y * y + self.e * x * y + self.r * y

    def u_x(self, x, y):
        """∂_x u(x, y): the leader's own (partial) gradient."""
        return self.a * x + self.b * y + self.p

    def u_y(self, x, y):
        """∂_y u(x, y): how the leader's cost changes with the follower's move."""
        return self.b * x + self.c * y + self.q

    def v_y(self, x, y):
        """∂_y v(x, y): the follower's own gradient."""
        return self.d * y + self.e * x + self.r

    # the follower's answer and the leader's total cost -----------------------------------
    def best_response(self, x):
        """y*(x) = argmin_y v(x, y) = -(e x + r) / d."""
        return -(self.e * x + self.r) / self.d

    @property
    def response_slope(self) -> float:
        """dy*/dx = -(∂²_yy v)^{-1} ∂²_yx v = -e / d (the implicit function theorem)."""
        return -self.e / self.d

    def total_cost(self, x):
        """The leader's total cost U(x) = u(x, y*(x))."""
        return self.leader_cost(x, self.best_response(x))

    @property
    def total_curvature(self) -> float:
        """U''(x) = a + 2 b s + c s² with s = dy*/dx (constant: U is a parabola)."""
        s = self.response_slope
        return self.a + 2 * self.b * s + self.c * s * s

    def stackelberg_gradient(self, x, y=None):
        """∂_x u + (dy*/dx) ∂_y u at (x, y); at y = y*(x) (the default) it is U'(x)."""
        y = self.best_response(x) if y is None else y
        return self.u_x(x, y) + self.response_slope * self.u_y(x, y)

    def one_step_gradient(self, x, y, alpha: float):
        """∂_x u + (1 - alpha)(dy*/dx) ∂_y u at (x, y): the gradient of a leader that differentiates
        through the follower's one-step EMA response y(x) = alpha y_t + (1 - alpha) y*(x) (slope
        (1 - alpha) dy*/dx) instead of its best response: DRIFT's analogue. alpha = 0 gives
        `stackelberg_gradient`."""
        _check_alpha(alpha)
        return self.u_x(x, y) + (1 - alpha) * self.response_slope * self.u_y(x, y)

    # equilibria ------------------------------------------------------------------------
    def stackelberg_equilibrium(self) -> np.ndarray:
        """(x_S, y*(x_S)) with x_S = argmin U, shape (2,). Raises ValueError if U is not convex."""
        curvature = self.total_curvature
        if not curvature > 0:
            raise ValueError(
                "no Stackelberg equilibrium: the leader's total cost U(x) = u(x, y*(x)) has "
                f"curvature a + 2 b s + c s² = {curvature:.4g} <= 0 (s = dy*/dx = "
                f"{self.response_slope:.4g}), so it has no minimum"
            )
        x = -self.stackelberg_gradient(0.0) / curvature  # U'(x) = U'(0) + U'' x = 0
        return np.array([x, self.best_response(x)]) + 0.0  # + 0.0: no negative zeros

    def stationary_point(self) -> np.ndarray:
        """(x, y) where ∂_x u = 0 and ∂_y v = 0, shape (2,): the resting point of simultaneous,
        sequential and mean-teacher play. It is the Nash equilibrium when a > 0 (see
        `nash_equilibrium`)."""
        det = self.a * self.d - self.b * self.e
        if det == 0:
            raise ValueError(
                "the partial gradients never vanish together: a d - b e = 0, so the stationary "
                "point of simultaneous play is not unique (or does not exist)"
            )
        x = (-self.p * self.d + self.b * self.r) / det
        y = (-self.a * self.r + self.e * self.p) / det
        return np.array([x, y]) + 0.0  # + 0.0: no negative zeros

    def nash_equilibrium(self) -> np.ndarray:
        """The point where neither player gains by moving alone, shape (2,).

        Both partial gradients vanish there and both own costs are convex (a > 0, d > 0). Raises
        ValueError when a <= 0: then at every y the leader lowers u by moving x, so no Nash exists.
        """
        if not self.a > 0:
            raise ValueError(
                "no Nash equilibrium: the leader's cost is not convex in its own move (a = "
                f"{self.a} <= 0), so at any y the leader can lower u(x, y) by moving x alone; "
                "stationary_point() is where both partial gradients vanish"
            )
        return self.stationary_point()

    def resting_point(self, dynamics: str, alpha: float | None = None) -> np.ndarray:
        """The fixed point z* = (x, y) of `play` with these dynamics, shape (2,).

        The stationary point for "simultaneous", "sequential" and "mean_teacher"; the Stackelberg
        equilibrium for "stackelberg"; for "drift" the point on the best response y = y*(x) where
        the one-step gradient vanishes,

            x = -[p + b y0 + (1 - alpha) s (q + c y0)] / [a + b s + (1 - alpha) s (b + c s)],

        s = dy*/dx, y0 = y*(0) (for the chapter's game
        x = 1.75 (1 - alpha) κ / ((2 - alpha) κ² - 1)), between the stationary point (alpha -> 1)
        and the Stackelberg equilibrium (alpha = 0). Whether play converges to it is a question
        for `update_matrix`. Raises ValueError where the point does not exist or is not unique.
        """
        _check_dynamics(dynamics)
        _check_alpha_for(dynamics, alpha)
        if dynamics == "stackelberg":
            return self.stackelberg_equilibrium()
        if dynamics != "drift":
            return self.stationary_point()
        s, y0, w = self.response_slope, self.best_response(0.0), (1 - alpha) * self.response_slope
        curvature = self.a + self.b * s + w * (self.b + self.c * s)
        if curvature == 0:
            raise ValueError(
                f"drift play has no unique resting point at alpha = {alpha}: the one-step gradient "
                "along the best response, a + b s + (1 - alpha) s (b + c s), has slope 0"
            )
        x = -(self.p + self.b * y0 + w * (self.q + self.c * y0)) / curvature
        return np.array([x, self.best_response(x)]) + 0.0  # + 0.0: no negative zeros

    # the gradient-play dynamics as linear maps -----------------------------------------
    def update_matrix(
        self,
        dynamics: str,
        lr: float,
        follower_lr: float | None = None,
        *,
        alpha: float | None = None,
    ) -> np.ndarray:
        """M (2, 2) such that one step of `play` maps z - z* to M (z - z*), z = (x, y).

        z* is the dynamics' resting point (`resting_point`); the largest |eigenvalue| of M (its
        spectral radius) is the asymptotic factor per step. `alpha` (the follower's EMA decay)
        is required for "mean_teacher" and "drift" and refused for the others, as in `play`.
        """
        _check_dynamics(dynamics)
        _check_alpha_for(dynamics, alpha)
        _check_follower_lr_for(dynamics, follower_lr)
        eta_x, eta_y = lr, lr if follower_lr is None else follower_lr
        a, b, c, d, e = self.a, self.b, self.c, self.d, self.e
        if dynamics in EMA_DYNAMICS:
            s = self.response_slope
            # what the leader differentiates through
            slope = (1 - alpha) * s if dynamics == "drift" else 0.0
            # leader: x' = x - lr [(a + slope b) x + (b + slope c) y];
            # follower: y' = alpha y + (1 - alpha) s x'
            leader = np.array([1 - eta_x * (a + slope * b), -eta_x * (b + slope * c)])
            return np.array([leader, (1 - alpha) * s * leader + np.array([0.0, alpha])])
        if dynamics == "stackelberg":
            s = self.response_slope
            jac = np.array([[a + s * b, b + s * c], [e, d]])  # Jacobian of (dU/dx, ∂_y v)
        else:
            jac = np.array([[a, b], [e, d]])  # Jacobian of (∂_x u, ∂_y v)
        if dynamics == "sequential":
            leader = np.array([[1 - eta_x * a, -eta_x * b], [0.0, 1.0]])
            follower = np.array([[1.0, 0.0], [-eta_y * e, 1 - eta_y * d]])
            return follower @ leader
        return np.eye(2) - np.diag([eta_x, eta_y]) @ jac


def _check_dynamics(dynamics) -> None:
    if dynamics not in DYNAMICS:
        hint = (
            " ('alternating' play is now called 'sequential')" if dynamics == "alternating" else ""
        )
        raise ValueError(
            f"dynamics must be one of {', '.join(map(repr, DYNAMICS))}; got {dynamics!r}{hint}"
        )


def _check_alpha(alpha) -> None:
    check_real(
        "alpha",
        alpha,
        minimum=0,
        maximum=1,
        high_open=True,
        expected="a number in [0, 1)",
        hint="the follower's EMA decay",
    )


def _check_alpha_for(dynamics: str, alpha) -> None:
    if dynamics in EMA_DYNAMICS:
        if alpha is None:
            raise ValueError(
                f"{dynamics!r} play needs alpha, the follower's EMA decay in [0, 1) (e.g. "
                "alpha=0.9)"
            )
        _check_alpha(alpha)
    elif alpha is not None:
        raise ValueError(
            f"alpha is the EMA decay of the 'mean_teacher' and 'drift' followers; {dynamics!r} "
            "play has a gradient-stepping follower (set follower_lr instead)"
        )


def _check_follower_lr_for(dynamics: str, follower_lr) -> None:
    if dynamics in EMA_DYNAMICS and follower_lr is not None:
        raise ValueError(
            f"{dynamics!r} play has an EMA follower: its step is set by alpha, not follower_lr "
            "(an EMA with decay alpha is a gradient step of size 1 - alpha on v when d = 1)"
        )


def play(
    game: QuadraticGame,
    dynamics: str,
    x0: float,
    y0: float,
    *,
    lr: float,
    steps: int,
    follower_lr: float | None = None,
    alpha: float | None = None,
) -> np.ndarray:
    """Gradient play from (x0, y0): the trajectory of (x, y), shape (steps + 1, 2), row 0 the start.

    dynamics (u the leader's cost, v the follower's, y*(x) the best response, s = dy*/dx):
      "simultaneous": x <- x - lr ∂_x u(x, y),  y <- y - follower_lr ∂_y v(x, y);
      "sequential":   x <- x - lr ∂_x u(x, y),  then y <- y - follower_lr ∂_y v(x_new, y);
      "stackelberg":  x <- x - lr [∂_x u + s ∂_y u](x, y),  y <- y - follower_lr ∂_y v(x, y);
      "mean_teacher": x <- x - lr ∂_x u(x, y),  then y <- alpha y + (1 - alpha) y*(x_new);
      "drift":        x <- x - lr [∂_x u + (1 - alpha) s ∂_y u](x, y),  then y <- alpha y + (1 -
      alpha) y*(x_new).
    In the last two y is the follower's one-step response that the leader's next step sees (as
    `EMATeacher.follow` is the teacher that DRIFT's and mean teacher's loss sees), and the leader
    ignores the follower's response or differentiates through it, y(x) = alpha y_t + (1 - alpha)
    y*(x). follower_lr defaults to lr (refused for the EMA dynamics); alpha in [0, 1) is required
    for the EMA dynamics and refused for the others. Diverging play is not stopped: its entries grow
    (possibly to inf).
    """
    if not isinstance(game, QuadraticGame):
        raise TypeError(f"game must be a drift.book.games.QuadraticGame; got {type(game).__name__}")
    _check_dynamics(dynamics)
    _check_alpha_for(dynamics, alpha)
    _check_follower_lr_for(dynamics, follower_lr)
    follower_lr = lr if follower_lr is None else follower_lr
    for name, value in (("lr", lr), ("follower_lr", follower_lr)):
        check_real(name, value, minimum=0, low_open=True, hint="a step size")
    steps = check_integer("steps", steps, minimum=1)
    for name, value in (("x0", x0), ("y0", y0)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number; got {value!r}")

    path = np.empty((steps + 1, 2))
    x, y = float(x0), float(y0)
    path[0] = x, y
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            if dynamics == "simultaneous":
                x, y = x - lr * game.u_x(x, y), y - follower_lr * game.v_y(x, y)
            elif dynamics == "sequential":
                x = x - lr * game.u_x(x, y)
                y = y - follower_lr * game.v_y(x, y)
            elif dynamics == "stackelberg":
                x, y = x - lr * game.stackelberg_gradient(x, y), y - follower_lr * game.v_y(x, y)
            else:
                step = (
                    game.u_x(x, y)
                    if dynamics == "mean_teacher"
                    else game.one_step_gradient(x, y, alpha)
                )
                x = x - lr * step
                y = alpha * y + (1 - alpha) * game.best_response(x)
            path[t] = x, y
    return path
