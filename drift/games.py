"""Stackelberg games: a leader, a follower, and the leader's total gradient (DESIGN §2).

The follower answers the leader's move x with its best response y*(x) = argmin_y g(x, y); the
leader, who anticipates that answer, minimises its total cost F(x) = f(x, y*(x)). Differentiating
the follower's optimality condition d/dx [∂_y g(x, y*(x))] = 0 gives the implicit function theorem

    dy*/dx = -(∂²_yy g)^{-1} ∂²_yx g,                         (m, n)
    dF/dx  = ∂_x f + (dy*/dx)^T ∂_y f,                        (n,)   the Stackelberg gradient.

`implicit_gradient` computes it for any twice-differentiable torch costs (Hessian blocks by
torch.func). `QuadraticGame` is the scalar two-player quadratic game of chapter 3 in closed form,
with its best response, Stackelberg equilibrium and the fixed point of simultaneous play, and
`play` runs simultaneous, alternating and Stackelberg gradient play on it.

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

__all__ = ["DYNAMICS", "STYLES", "QuadraticGame", "implicit_gradient", "response_jacobian", "play", "plot_phase_portrait"]

DYNAMICS = ("simultaneous", "alternating", "stackelberg")
"""Gradient play on a game: both players step on their partial gradients at the same time;
the leader steps, then the follower answers the new x; or the leader steps on its Stackelberg
(total) gradient while the follower steps on its partial gradient (Fiez et al., 2020)."""

Cost = Callable[[Tensor, Tensor], Tensor]


# --------------------------------------------------------------------------------------------
# The implicit function theorem, for any costs


def _as_vector(name: str, value) -> tuple[Tensor, tuple[int, ...]]:
    t = torch.as_tensor(value)
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (use float64 for checks); got {t.dtype}")
    if t.dim() > 1:
        raise ValueError(f"{name} must be a scalar or a vector (shape () or (n,)); got shape {tuple(t.shape)}")
    return t.reshape(-1), tuple(t.shape)


def response_jacobian(follower_cost: Cost, x, y) -> Tensor:
    """dy*/dx = -(∂²_yy g)^{-1} ∂²_yx g at (x, y), (m, n) for x (n,), y (m,) (scalars count as 1).

    `y` should be the follower's best response to `x` (where ∂_y g = 0); the formula is then the
    slope of y*(x). Raises ValueError when ∂²_yy g is not positive definite there (the follower's
    cost is not strongly convex in y, so its best response is not a unique smooth function of x).
    """
    x, _ = _as_vector("x", x)
    y, _ = _as_vector("y", y)

    def g(xv, yv):
        return follower_cost(xv, yv).reshape(())

    g_y = grad(g, argnums=1)  # reverse over reverse: no forward-mode AD needed
    h_yy = jacrev(g_y, argnums=1)(x, y)  # (m, m)
    h_yx = jacrev(g_y, argnums=0)(x, y)  # (m, n): d/dx of ∂_y g
    chol, info = torch.linalg.cholesky_ex(h_yy)
    if info.item() != 0:
        smallest = torch.linalg.eigvalsh(0.5 * (h_yy + h_yy.T)).min().item()
        raise ValueError(
            "follower_cost must be strongly convex in y at (x, y): its Hessian ∂²_yy g is not positive "
            f"definite (smallest eigenvalue {smallest:.3g}), so the best response y*(x) is not unique"
        )
    return -torch.cholesky_solve(h_yx, chol)


def implicit_gradient(leader_cost: Cost, follower_cost: Cost, x, y) -> Tensor:
    """The Stackelberg gradient ∂_x f + (dy*/dx)^T ∂_y f at (x, y), shaped like `x`.

    leader_cost f(x, y) and follower_cost g(x, y) are torch functions returning a scalar; x (n,)
    or (), y (m,) or () floating tensors. At y = y*(x) this is dF/dx for F(x) = f(x, y*(x)).
    Hessian blocks come from torch.func, so no formula needs to be written by hand.
    """
    x_vec, x_shape = _as_vector("x", x)
    y_vec, _ = _as_vector("y", y)

    def f(xv, yv):
        return leader_cost(xv.reshape(x_shape), yv).reshape(())

    def g(xv, yv):
        return follower_cost(xv.reshape(x_shape), yv).reshape(())

    f_x, f_y = grad(f, argnums=(0, 1))(x_vec, y_vec)  # (n,), (m,)
    slope = response_jacobian(g, x_vec, y_vec)  # (m, n)
    return (f_x + slope.T @ f_y).reshape(x_shape)


# --------------------------------------------------------------------------------------------
# The scalar quadratic game in closed form


@dataclass(frozen=True)
class QuadraticGame:
    """Two players with scalar moves x (leader) and y (follower) and quadratic costs

        f(x, y) = a x²/2 + b x y + c y²/2 + p x + q y      (the leader's),
        g(x, y) = d y²/2 + e x y + r y                      (the follower's; x-only terms change nothing).

    b and e couple the players. The follower's cost must be strongly convex in y (d > 0), so its
    best response y*(x) = -(e x + r) / d is unique, with slope dy*/dx = -e / d. Every method
    accepts Python floats, NumPy arrays or torch tensors for x and y.
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
            value = getattr(self, fld.name)
            numeric = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
            if not (numeric and math.isfinite(value)):
                raise ValueError(f"{fld.name} must be a finite number; got {value!r}")
            object.__setattr__(self, fld.name, float(value))
        if not self.d > 0:
            raise ValueError(
                f"d must be > 0: the follower's cost g must be strongly convex in y (∂²_yy g = d), "
                f"or its best response is not unique; got d={self.d}"
            )

    @classmethod
    def example(cls, coupling: float = 2.0) -> "QuadraticGame":
        """The game of chapter 3: f = -x²/2 + k x y - 1.75 y, g = y²/2 - k x y, k = `coupling`.

        On its own the leader's cost is concave in x (a = -1), so no Nash equilibrium exists, and
        simultaneous play rotates (a + d = 0); but the follower copies x (y* = k x), which makes
        the leader's total cost F(x) = (2k² - 1) x²/2 - 1.75 k x convex for k > 1/sqrt(2).
        """
        if not (math.isfinite(coupling) and coupling > 1 / math.sqrt(2)):
            raise ValueError(
                f"coupling must be > 1/sqrt(2) ≈ 0.707 for this game to have a Stackelberg equilibrium "
                f"(the leader's total cost is convex only then); got {coupling}"
            )
        return cls(a=-1.0, b=coupling, c=0.0, p=0.0, q=-1.75, d=1.0, e=-coupling, r=0.0)

    # costs and partial derivatives -------------------------------------------------------
    def leader_cost(self, x, y):
        """f(x, y)."""
        return 0.5 * self.a * x * x + self.b * x * y + 0.5 * self.c * y * y + self.p * x + self.q * y

    def follower_cost(self, x, y):
        """g(x, y)."""
        return 0.5 * self.d * y * y + self.e * x * y + self.r * y

    def f_x(self, x, y):
        """∂_x f(x, y): the leader's own (partial) gradient."""
        return self.a * x + self.b * y + self.p

    def f_y(self, x, y):
        """∂_y f(x, y): how the leader's cost changes with the follower's move."""
        return self.b * x + self.c * y + self.q

    def g_y(self, x, y):
        """∂_y g(x, y): the follower's own gradient."""
        return self.d * y + self.e * x + self.r

    # the follower's answer and the leader's total cost -----------------------------------
    def best_response(self, x):
        """y*(x) = argmin_y g(x, y) = -(e x + r) / d."""
        return -(self.e * x + self.r) / self.d

    @property
    def response_slope(self) -> float:
        """dy*/dx = -(∂²_yy g)^{-1} ∂²_yx g = -e / d (the implicit function theorem)."""
        return -self.e / self.d

    def total_cost(self, x):
        """The leader's total cost F(x) = f(x, y*(x))."""
        return self.leader_cost(x, self.best_response(x))

    @property
    def total_curvature(self) -> float:
        """F''(x) = a + 2 b s + c s² with s = dy*/dx (constant: F is a parabola)."""
        s = self.response_slope
        return self.a + 2 * self.b * s + self.c * s * s

    def stackelberg_gradient(self, x, y=None):
        """∂_x f + (dy*/dx) ∂_y f at (x, y); at y = y*(x) (the default) it is F'(x)."""
        y = self.best_response(x) if y is None else y
        return self.f_x(x, y) + self.response_slope * self.f_y(x, y)

    # equilibria ------------------------------------------------------------------------
    def stackelberg_equilibrium(self) -> np.ndarray:
        """(x_S, y*(x_S)) with x_S = argmin F, shape (2,). Raises ValueError if F is not convex."""
        curvature = self.total_curvature
        if not curvature > 0:
            raise ValueError(
                f"no Stackelberg equilibrium: the leader's total cost F(x) = f(x, y*(x)) has curvature "
                f"a + 2 b s + c s² = {curvature:.4g} <= 0 (s = dy*/dx = {self.response_slope:.4g}), so it has no minimum"
            )
        x = -self.stackelberg_gradient(0.0) / curvature  # F'(x) = F'(0) + F'' x = 0
        return np.array([x, self.best_response(x)]) + 0.0  # + 0.0: no negative zeros

    def stationary_point(self) -> np.ndarray:
        """(x, y) where ∂_x f = 0 and ∂_y g = 0, shape (2,): the fixed point of simultaneous and
        alternating play. It is the Nash equilibrium when a > 0 (see `nash_equilibrium`)."""
        det = self.a * self.d - self.b * self.e
        if det == 0:
            raise ValueError(
                "the partial gradients never vanish together: a d - b e = 0, so the stationary point of "
                "simultaneous play is not unique (or does not exist)"
            )
        x = (-self.p * self.d + self.b * self.r) / det
        y = (-self.a * self.r + self.e * self.p) / det
        return np.array([x, y]) + 0.0  # + 0.0: no negative zeros

    def nash_equilibrium(self) -> np.ndarray:
        """The point where neither player gains by moving alone, shape (2,).

        Both partial gradients vanish there and both own costs are convex (a > 0, d > 0). Raises
        ValueError when a <= 0: then at every y the leader lowers f by moving x, so no Nash exists.
        """
        if not self.a > 0:
            raise ValueError(
                f"no Nash equilibrium: the leader's cost is not convex in its own move (a = {self.a} <= 0), "
                "so at any y the leader can lower f(x, y) by moving x alone; "
                "stationary_point() is where both partial gradients vanish"
            )
        return self.stationary_point()

    # the gradient-play dynamics as linear maps -----------------------------------------
    def update_matrix(self, dynamics: str, lr: float, follower_lr: float | None = None) -> np.ndarray:
        """M (2, 2) such that one step of `play` maps z - z* to M (z - z*), z = (x, y).

        z* is the dynamics' fixed point (the stationary point, or the Stackelberg equilibrium for
        "stackelberg"); the largest |eigenvalue| of M is the asymptotic factor per step.
        """
        _check_dynamics(dynamics)
        eta_x, eta_y = lr, lr if follower_lr is None else follower_lr
        a, b, c, d, e = self.a, self.b, self.c, self.d, self.e
        if dynamics == "stackelberg":
            s = self.response_slope
            jac = np.array([[a + s * b, b + s * c], [e, d]])  # Jacobian of (Df, ∂_y g)
        else:
            jac = np.array([[a, b], [e, d]])  # Jacobian of (∂_x f, ∂_y g)
        if dynamics == "alternating":
            leader = np.array([[1 - eta_x * a, -eta_x * b], [0.0, 1.0]])
            follower = np.array([[1.0, 0.0], [-eta_y * e, 1 - eta_y * d]])
            return follower @ leader
        return np.eye(2) - np.diag([eta_x, eta_y]) @ jac


def _check_dynamics(dynamics) -> None:
    if dynamics not in DYNAMICS:
        raise ValueError(f"dynamics must be one of {', '.join(map(repr, DYNAMICS))}; got {dynamics!r}")


def play(
    game: QuadraticGame, dynamics: str, x0: float, y0: float, *, lr: float, steps: int,
    follower_lr: float | None = None,
) -> np.ndarray:
    """Gradient play from (x0, y0): the trajectory of (x, y), shape (steps + 1, 2), row 0 the start.

    dynamics:
      "simultaneous": x <- x - lr ∂_x f(x, y),  y <- y - follower_lr ∂_y g(x, y);
      "alternating":  x <- x - lr ∂_x f(x, y),  then y <- y - follower_lr ∂_y g(x_new, y);
      "stackelberg":  x <- x - lr [∂_x f + (dy*/dx) ∂_y f](x, y),  y <- y - follower_lr ∂_y g(x, y).
    follower_lr defaults to lr. Diverging play is not stopped: its entries grow (possibly to inf).
    """
    if not isinstance(game, QuadraticGame):
        raise TypeError(f"game must be a drift.games.QuadraticGame; got {type(game).__name__}")
    _check_dynamics(dynamics)
    follower_lr = lr if follower_lr is None else follower_lr
    for name, value in (("lr", lr), ("follower_lr", follower_lr)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0 (a step size); got {value!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1; got {steps!r}")
    for name, value in (("x0", x0), ("y0", y0)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number; got {value!r}")

    path = np.empty((steps + 1, 2))
    x, y = float(x0), float(y0)
    path[0] = x, y
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            if dynamics == "simultaneous":
                x, y = x - lr * game.f_x(x, y), y - follower_lr * game.g_y(x, y)
            elif dynamics == "alternating":
                x = x - lr * game.f_x(x, y)
                y = y - follower_lr * game.g_y(x, y)
            else:
                x, y = x - lr * game.stackelberg_gradient(x, y), y - follower_lr * game.g_y(x, y)
            path[t] = x, y
    return path


# --------------------------------------------------------------------------------------------
# Figure


STYLES = {
    "simultaneous": dict(color="tab:red"),
    "alternating": dict(color="tab:orange"),
    "stackelberg": dict(color="tab:blue"),
}


def plot_phase_portrait(game: QuadraticGame, trajectories: dict, *, ax=None, box=None):
    """Trajectories {name: (T, 2) array} in the (x, y) plane, with the follower's best response
    y*(x), the Stackelberg equilibrium (star) and the stationary point of simultaneous play
    (cross). box = (x_min, x_max, y_min, y_max) fixes the view (default: around the starts and
    the equilibria). Returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.0), layout="constrained")
    stack = game.stackelberg_equilibrium()
    points = [stack, *(np.asarray(t)[0] for t in trajectories.values())]
    try:
        fixed = game.stationary_point()
        points.append(fixed)
    except ValueError:
        fixed = None
    if box is None:
        lo, hi = np.min(points, axis=0), np.max(points, axis=0)
        pad = 0.4 * max(hi - lo) + 0.5
        box = (lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad)
    xs = np.linspace(box[0], box[1], 50)
    ax.plot(xs, game.best_response(xs), color="0.6", ls="--", lw=1, label="follower's best response $y^*(x)$")
    for name, path in trajectories.items():
        path = np.asarray(path)
        style = STYLES.get(name, {})
        ax.plot(path[:, 0], path[:, 1], lw=1.2, label=name, **style)
        ax.plot(*path[0], "o", ms=4, **style)
    ax.plot(*stack, "*", color="k", ms=13, label="Stackelberg equilibrium", zorder=5)
    if fixed is not None:
        ax.plot(*fixed, "X", color="0.25", ms=8, label="stationary point of simultaneous play", zorder=5)
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    ax.set_xlabel("leader's move $x$")
    ax.set_ylabel("follower's move $y$")
    ax.grid(alpha=0.3)
    return ax
