"""Stackelberg games (drift.book.games): the implicit-function-theorem gradient against central
finite differences in float64, the equilibria's defining conditions, the gradient dynamics
(simultaneous, sequential, Stackelberg, and the EMA-follower analogues of mean teacher and DRIFT)
with their update matrices and resting points, bad input, and the chapter-3 widget."""

import math

import numpy as np
import pytest
import torch

from drift import plotting
from drift.book import games

EPS = 1e-6
TOL = 1e-6


def relative_error(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.abs(a - b).max() / max(np.abs(a).max(), np.abs(b).max(), 1e-300))


def random_games(n: int = 5, seed: int = 0):
    """Quadratic games with a strongly convex follower (d > 0) and a convex total leader cost."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        a, b, c, p, q, e, r = rng.normal(size=7)
        game = games.QuadraticGame(a=a, b=b, c=c, p=p, q=q, d=rng.uniform(0.3, 2.0), e=e, r=r)
        if game.total_curvature > 0.1:
            out.append(game)
    return out


GAMES = [games.QuadraticGame.example(), games.QuadraticGame.example(1.3), *random_games()]


# --- the implicit function theorem -------------------------------------------------------


@pytest.mark.parametrize("game", GAMES)
def test_ift_gradient_matches_finite_difference_of_total_cost(game):
    """dU/dx by autograd Hessian blocks = central difference of U(x) = u(x, y*(x)), with the
    follower's best response recomputed at x +- eps."""
    for x in (-1.3, 0.2, 0.9):
        x64 = torch.tensor(x, dtype=torch.float64)
        ift = games.implicit_gradient(
            game.leader_cost, game.follower_cost, x64, game.best_response(x64)
        )
        assert ift.shape == ()
        fd = (game.total_cost(x + EPS) - game.total_cost(x - EPS)) / (2 * EPS)
        assert relative_error(ift.item(), fd) < TOL
        # and the closed form agrees with autograd
        assert relative_error(game.stackelberg_gradient(x), ift.item()) < 1e-12


def test_ift_gradient_of_a_non_quadratic_game_in_several_dimensions():
    """x (2,), y (3,); the follower's best response has no closed form: Newton's method finds it."""
    torch.manual_seed(0)
    A = torch.randn(3, 3, dtype=torch.float64)
    H = A @ A.T + torch.eye(3, dtype=torch.float64)  # positive definite
    B = torch.randn(3, 2, dtype=torch.float64)
    W = torch.randn(2, 3, dtype=torch.float64)

    def g(x, y):  # strongly convex in y: quadratic plus a convex log-sum-exp coupling
        return 0.5 * y @ H @ y + torch.logsumexp(B @ x + y, 0) + (x * x).sum() * y.sum()

    def f(x, y):
        return torch.sin(x).sum() * y[0] + (W @ y - x).pow(2).sum() + torch.cosh(y).sum()

    def best_response(x):
        y = torch.zeros(3, dtype=torch.float64)
        for _ in range(50):
            gy = torch.func.grad(g, argnums=1)(x, y)
            y = y - torch.linalg.solve(
                torch.func.jacrev(torch.func.grad(g, argnums=1), argnums=1)(x, y), gy
            )
        assert torch.func.grad(g, argnums=1)(x, y).abs().max() < 1e-13
        return y

    x = torch.tensor([0.3, -0.7], dtype=torch.float64)
    ift = games.implicit_gradient(f, g, x, best_response(x))
    assert ift.shape == (2,)
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        v = torch.randn(2, generator=gen, dtype=torch.float64)
        fd = (
            f(x + EPS * v, best_response(x + EPS * v)) - f(x - EPS * v, best_response(x - EPS * v))
        ) / (2 * EPS)
        assert relative_error((ift @ v).item(), fd.item()) < TOL


def test_response_jacobian_of_the_ema_follower_is_one_minus_alpha():
    """The EMA phi = alpha phi_prev + (1 - alpha) theta is the best response to
    g(theta, phi) = alpha/2 |phi - phi_prev|² + (1 - alpha)/2 |phi - theta|², so dphi/dtheta = (1 -
    alpha) I."""
    gen = torch.Generator().manual_seed(0)
    phi_prev, theta = (
        torch.randn(4, generator=gen, dtype=torch.float64),
        torch.randn(4, generator=gen, dtype=torch.float64),
    )
    for alpha in (0.5, 0.9, 0.99):

        def g(th, ph):
            return (
                0.5 * alpha * (ph - phi_prev).pow(2).sum()
                + 0.5 * (1 - alpha) * (ph - th).pow(2).sum()
            )

        phi = alpha * phi_prev + (1 - alpha) * theta
        # phi is the best response
        assert torch.func.grad(g, argnums=1)(theta, phi).abs().max() < 1e-15
        jac = games.response_jacobian(g, theta, phi)
        torch.testing.assert_close(
            jac, (1 - alpha) * torch.eye(4, dtype=torch.float64), rtol=0, atol=1e-15
        )


@pytest.mark.parametrize("game", GAMES)
def test_response_slope_is_the_ift_jacobian(game):
    x = torch.tensor(0.4, dtype=torch.float64)
    jac = games.response_jacobian(game.follower_cost, x, game.best_response(x))
    assert jac.shape == (1, 1)
    assert jac.item() == pytest.approx(game.response_slope, rel=1e-12)


# --- best response and equilibria --------------------------------------------------------


@pytest.mark.parametrize("game", GAMES)
def test_best_response_is_the_minimiser_of_the_followers_cost(game):
    for x in (-2.0, 0.0, 1.5):
        y = game.best_response(x)
        assert abs(game.v_y(x, y)) < 1e-12
        xt, yt = torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
        assert abs(torch.func.grad(game.follower_cost, argnums=1)(xt, yt).item()) < 1e-12
        for dy in (-1e-3, 1e-3, 0.5):
            assert game.follower_cost(x, y + dy) > game.follower_cost(x, y)


@pytest.mark.parametrize("game", GAMES)
def test_partial_derivatives_match_autograd(game):
    x, y = torch.tensor(0.7, dtype=torch.float64), torch.tensor(-0.4, dtype=torch.float64)
    f_x, f_y = torch.func.grad(game.leader_cost, argnums=(0, 1))(x, y)
    g_y = torch.func.grad(game.follower_cost, argnums=1)(x, y)
    assert game.u_x(0.7, -0.4) == pytest.approx(f_x.item(), rel=1e-12, abs=1e-14)
    assert game.u_y(0.7, -0.4) == pytest.approx(f_y.item(), rel=1e-12, abs=1e-14)
    assert game.v_y(0.7, -0.4) == pytest.approx(g_y.item(), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("game", GAMES)
def test_stackelberg_equilibrium_conditions(game):
    x_s, y_s = game.stackelberg_equilibrium()
    assert y_s == pytest.approx(game.best_response(x_s), abs=1e-12)  # the follower answers
    assert abs(game.stackelberg_gradient(x_s)) < 1e-10  # F'(x_S) = 0
    for dx in (-0.5, -1e-3, 1e-3, 0.5):  # and it is F's minimum
        assert game.total_cost(x_s + dx) > game.total_cost(x_s)
    # the Stackelberg leader does at least as well as at the stationary point, where y = y*(x) too
    x_n, y_n = game.stationary_point()
    assert game.total_cost(x_s) <= game.leader_cost(x_n, y_n) + 1e-12


@pytest.mark.parametrize("game", GAMES)
def test_stationary_point_and_nash_equilibrium(game):
    x_n, y_n = game.stationary_point()
    assert abs(game.u_x(x_n, y_n)) < 1e-10 and abs(game.v_y(x_n, y_n)) < 1e-10
    if game.a > 0:
        assert np.allclose(game.nash_equilibrium(), (x_n, y_n))
        for delta in (-0.3, 0.3):  # neither player gains by moving alone
            assert game.leader_cost(x_n + delta, y_n) > game.leader_cost(x_n, y_n)
            assert game.follower_cost(x_n, y_n + delta) > game.follower_cost(x_n, y_n)
    else:
        with pytest.raises(ValueError, match=r"no Nash equilibrium.*a = .* <= 0"):
            game.nash_equilibrium()
        # the leader would move
        assert game.leader_cost(x_n + 0.3, y_n) < game.leader_cost(x_n, y_n)


def test_chapter_game_in_closed_form():
    game = games.QuadraticGame.example(2.0)
    np.testing.assert_allclose(game.stackelberg_equilibrium(), [0.5, 1.0], atol=1e-15)
    np.testing.assert_allclose(game.stationary_point(), [0.0, 0.0], atol=1e-15)
    assert game.total_curvature == pytest.approx(7.0)
    assert game.response_slope == pytest.approx(2.0)


# --- gradient play -----------------------------------------------------------------------


CLASSIC = ("simultaneous", "sequential", "stackelberg")


def _kwargs(dynamics, alpha=0.7, follower_lr=0.2):
    return dict(alpha=alpha) if dynamics in games.EMA_DYNAMICS else dict(follower_lr=follower_lr)


@pytest.mark.parametrize("game", GAMES)
@pytest.mark.parametrize("dynamics", games.DYNAMICS)
def test_update_matrix_is_one_step_of_play(game, dynamics):
    fixed = game.resting_point(
        dynamics, **({"alpha": 0.7} if dynamics in games.EMA_DYNAMICS else {})
    )
    start = np.array([0.3, -1.1])
    path = games.play(game, dynamics, *start, lr=0.07, steps=1, **_kwargs(dynamics))
    M = game.update_matrix(dynamics, 0.07, **_kwargs(dynamics))
    np.testing.assert_allclose(path[1] - fixed, M @ (start - fixed), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("game", GAMES)
@pytest.mark.parametrize("dynamics", games.DYNAMICS)
def test_resting_point_is_a_fixed_point_of_play(game, dynamics):
    kwargs = {"alpha": 0.7} if dynamics in games.EMA_DYNAMICS else {}
    z = game.resting_point(dynamics, **kwargs)
    path = games.play(game, dynamics, *z, lr=0.07, steps=3, **kwargs)
    np.testing.assert_allclose(path[-1], z, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.6, 0.9])
def test_drift_play_converges_to_its_closed_form_resting_point(alpha):
    """On the chapter's game: x = 1.75 (1 - alpha) k / ((2 - alpha) k² - 1), on the best response,
    and a long simulation ends there (where the update matrix says it converges)."""
    for coupling in (1.3, 2.0, 3.0):
        game = games.QuadraticGame.example(coupling)
        rest = game.resting_point("drift", alpha=alpha)
        x = 1.75 * (1 - alpha) * coupling / ((2 - alpha) * coupling**2 - 1)
        np.testing.assert_allclose(rest, [x, coupling * x], rtol=1e-12, atol=1e-15)
        rho = np.abs(np.linalg.eigvals(game.update_matrix("drift", 0.05, alpha=alpha))).max()
        assert rho < 1
        path = games.play(
            game,
            "drift",
            -1.0,
            -1.0,
            lr=0.05,
            alpha=alpha,
            steps=int(np.log(1e-13) / np.log(rho)) + 50,
        )
        np.testing.assert_allclose(path[-1], rest, atol=1e-10)
        # between the stationary point (the origin) and the Stackelberg equilibrium
        x_s = game.stackelberg_equilibrium()[0]
        assert 0 < x <= x_s + 1e-15


@pytest.mark.parametrize("game", GAMES)
def test_drift_play_at_alpha_zero_is_stackelberg(game):
    """alpha = 0: the follower plays its best response, the one-step slope is dy*/dx, and the leader
    descends U(x) = u(x, y*(x)) exactly: the resting point is the Stackelberg equilibrium, and
    one step of x is x - lr U'(x)."""
    np.testing.assert_allclose(
        game.resting_point("drift", alpha=0.0), game.stackelberg_equilibrium(), atol=1e-12
    )
    x = 0.4
    path = games.play(game, "drift", x, game.best_response(x), lr=0.05, alpha=0.0, steps=1)
    assert path[1, 0] == pytest.approx(x - 0.05 * game.stackelberg_gradient(x), rel=1e-12)
    assert path[1, 1] == pytest.approx(game.best_response(path[1, 0]), rel=1e-12)


def test_drift_resting_point_moves_from_stackelberg_to_stationary_as_alpha_grows():
    game = games.QuadraticGame.example(2.0)
    alphas = np.linspace(0.0, 0.999, 40)
    xs = np.array([game.resting_point("drift", alpha=float(a))[0] for a in alphas])
    assert xs[0] == pytest.approx(game.stackelberg_equilibrium()[0]) and np.all(np.diff(xs) < 0)
    assert 0 < xs[-1] < 2e-3  # 1.75 * 0.001 * 2 / (1.001 * 4 - 1) ≈ 1.17e-3
    # mean teacher's analogue rests at the stationary point for every alpha
    for a in (0.0, 0.5, 0.9):
        np.testing.assert_allclose(
            game.resting_point("mean_teacher", alpha=a), game.stationary_point()
        )


def test_mean_teacher_play_is_sequential_play_with_follower_step_one_minus_alpha():
    """With d = 1 the EMA y <- alpha y + (1 - alpha) y*(x') is the gradient step y - (1 - alpha)
    ∂_y v."""
    rng = np.random.default_rng(3)
    for game in (
        games.QuadraticGame.example(2.0),
        games.QuadraticGame(*rng.normal(size=5), d=1.0, e=rng.normal(), r=rng.normal()),
    ):
        for alpha in (0.5, 0.9):
            mt = games.play(game, "mean_teacher", -1.0, 0.5, lr=0.1, alpha=alpha, steps=50)
            seq = games.play(game, "sequential", -1.0, 0.5, lr=0.1, follower_lr=1 - alpha, steps=50)
            np.testing.assert_allclose(mt, seq, rtol=1e-12, atol=1e-12)


def test_ema_dynamics_rates_on_the_chapter_game():
    """At lr = 0.1, alpha = 0.9, k = 2: mean teacher's analogue converges (rho = sqrt(1 - lr²), to
    the stationary point), DRIFT's faster (rho = sqrt(0.954) ≈ 0.977) to its own resting point, both
    slower than Stackelberg play; det M = alpha (1 - lr (a + slope b)) for both."""
    game = games.QuadraticGame.example(2.0)
    rho = {
        d: np.abs(np.linalg.eigvals(game.update_matrix(d, 0.1, alpha=0.9))).max()
        for d in games.EMA_DYNAMICS
    }
    assert rho["mean_teacher"] == pytest.approx(np.sqrt(1 - 0.1**2), rel=1e-12)
    assert (
        rho["drift"] == pytest.approx(np.sqrt(0.954), rel=1e-12) and round(rho["drift"], 3) == 0.977
    )
    stack = np.abs(np.linalg.eigvals(game.update_matrix("stackelberg", 0.1))).max()
    assert stack < rho["drift"] < rho["mean_teacher"] < 1
    for alpha in (0.2, 0.9, 0.95):
        for d, slope in (("mean_teacher", 0.0), ("drift", (1 - alpha) * 2.0)):
            M = game.update_matrix(d, 0.1, alpha=alpha)
            assert np.linalg.det(M) == pytest.approx(
                alpha * (1 - 0.1 * (-1.0 + slope * 2.0)), rel=1e-12
            )


@pytest.mark.parametrize("coupling", [0.3, 0.5, 0.9, 0.99, 1.001, 1.2, 2.0, 3.0])
def test_sequential_play_spectral_radius_for_every_coupling(coupling):
    """det M = 1 - lr² always; the eigenvalues are complex (|lambda| = sqrt(1 - lr²)) only while the
    discriminant (2 - lr² k²)² - 4 (1 - lr²) is negative; below k = 1 a real eigenvalue exceeds
    1."""
    lr = 0.1
    M = games.QuadraticGame.example(coupling).update_matrix("sequential", lr)
    assert np.linalg.det(M) == pytest.approx(1 - lr**2, rel=1e-12)
    rho = np.abs(np.linalg.eigvals(M)).max()
    disc = (2 - lr**2 * coupling**2) ** 2 - 4 * (1 - lr**2)
    if disc < 0:
        assert rho == pytest.approx(np.sqrt(1 - lr**2), rel=1e-12)
    else:
        assert rho == pytest.approx((2 - lr**2 * coupling**2 + np.sqrt(disc)) / 2, rel=1e-12)
    assert (rho < 1) == (coupling > 1)
    if coupling == 0.5:
        assert round(rho, 3) == 1.085
    sim = np.abs(
        np.linalg.eigvals(games.QuadraticGame.example(coupling).update_matrix("simultaneous", lr))
    ).max()
    expected = (
        1 + lr * np.sqrt(1 - coupling**2)
        if coupling < 1
        else np.sqrt(1 + lr**2 * (coupling**2 - 1))
    )
    assert sim == pytest.approx(expected, rel=1e-12) and sim > 1


def test_play_on_the_chapter_game():
    """Stackelberg play converges to the Stackelberg equilibrium; simultaneous play spirals out;
    sequential play circles its own fixed point and is still far from the equilibrium."""
    game = games.QuadraticGame.example(2.0)
    target = game.stackelberg_equilibrium()
    paths = {d: games.play(game, d, -1.0, -1.0, lr=0.1, steps=150) for d in CLASSIC}
    for path in paths.values():
        assert path.shape == (151, 2)
        np.testing.assert_array_equal(path[0], [-1.0, -1.0])
    dist = {d: np.linalg.norm(p - target, axis=1) for d, p in paths.items()}
    assert dist["stackelberg"][-1] < 1e-10
    assert dist["simultaneous"][-1] > 5 * dist["simultaneous"][0]
    assert dist["sequential"][-40:].max() > 0.5
    radius = {d: np.abs(np.linalg.eigvals(game.update_matrix(d, 0.1))).max() for d in CLASSIC}
    assert radius["simultaneous"] > 1 > radius["sequential"] > radius["stackelberg"]


@pytest.mark.parametrize("coupling", [1.2, 2.0, 3.0])
def test_stackelberg_play_converges_over_the_widget_range(coupling):
    game = games.QuadraticGame.example(coupling)
    path = games.play(game, "stackelberg", -1.0, -1.0, lr=0.1, steps=300)
    assert np.linalg.norm(path[-1] - game.stackelberg_equilibrium()) < 1e-6


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", [0.0, -1.0])
def test_follower_not_strongly_convex_is_refused(d):
    with pytest.raises(
        ValueError, match=r"d must be > 0: the follower's cost v must be strongly convex in y"
    ):
        games.QuadraticGame(d=d)


def test_non_finite_parameters_are_refused():
    with pytest.raises(ValueError, match=r"q must be a finite number"):
        games.QuadraticGame(q=math.nan)
    with pytest.raises(ValueError, match=r"b must be a finite number"):
        games.QuadraticGame(b="2")


def test_example_below_the_critical_coupling_has_no_stackelberg_equilibrium():
    game = games.QuadraticGame.example(0.5)  # U'' = 2 k² - 1 < 0
    assert game.total_curvature < 0
    with pytest.raises(ValueError, match=r"no Stackelberg equilibrium"):
        game.stackelberg_equilibrium()
    with pytest.raises(ValueError, match=r"a d - b e = 0"):  # k = 1: a line of stationary points
        games.QuadraticGame.example(1.0).stationary_point()
    for bad in (math.nan, math.inf, "2", True):
        with pytest.raises(ValueError, match=r"coupling must be a finite number"):
            games.QuadraticGame.example(bad)


def test_no_stackelberg_equilibrium_when_total_cost_is_not_convex():
    game = games.QuadraticGame(a=-1.0, b=0.5, d=1.0, e=-0.5)  # F'' = -1 + 0.5 = -0.5
    with pytest.raises(ValueError, match=r"no Stackelberg equilibrium.*curvature"):
        game.stackelberg_equilibrium()


def test_singular_stationary_point_is_refused():
    with pytest.raises(ValueError, match=r"a d - b e = 0"):
        games.QuadraticGame(a=1.0, b=1.0, d=1.0, e=1.0).stationary_point()


def test_ift_refuses_a_follower_cost_not_strongly_convex_in_y():
    def g(x, y):
        return -0.5 * (y * y).sum() + (x * y).sum()

    x = torch.tensor([0.1, 0.2], dtype=torch.float64)
    with pytest.raises(
        ValueError, match=r"follower_cost must be strongly convex in y.*smallest eigenvalue -1"
    ):
        games.implicit_gradient(lambda x, y: (x * y).sum(), g, x, x.clone())


def test_ift_refuses_bad_tensors():
    def f(x, y):
        return (x * y).sum()

    with pytest.raises(TypeError, match=r"x must be a floating-point tensor"):
        games.implicit_gradient(f, f, torch.tensor([1, 2]), torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match=r"y must be a scalar or a vector"):
        games.response_jacobian(f, torch.ones(2), torch.ones(2, 2))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            dict(dynamics="gradient"),
            ValueError,
            r"dynamics must be one of 'simultaneous', 'sequential', 'stackelberg', 'mean_teacher', "
            r"'drift'; got 'gradient'$",
        ),
        (
            dict(dynamics="alternating"),
            ValueError,
            r"got 'alternating' \('alternating' play is now called 'sequential'\)",
        ),
        (dict(dynamics="drift"), ValueError, r"'drift' play needs alpha, the follower's EMA decay"),
        (dict(dynamics="drift", alpha=1.0), ValueError, r"alpha must be a number in \[0, 1\)"),
        (
            dict(dynamics="mean_teacher", alpha=-0.1),
            ValueError,
            r"alpha must be a number in \[0, 1\)",
        ),
        (
            dict(dynamics="drift", alpha=0.9, follower_lr=0.1),
            ValueError,
            r"'drift' play has an EMA follower",
        ),
        (
            dict(alpha=0.9),
            ValueError,
            r"alpha is the EMA decay of the 'mean_teacher' and 'drift' followers",
        ),
        (dict(lr=0.0), ValueError, r"lr must be a finite number > 0"),
        (dict(lr=math.inf), ValueError, r"lr must be a finite number > 0"),
        (dict(follower_lr=-0.1), ValueError, r"follower_lr must be a finite number > 0"),
        (dict(steps=0), ValueError, r"steps must be an integer >= 1"),
        (dict(steps=10.0), ValueError, r"steps must be an integer >= 1"),
        (dict(x0=math.nan), ValueError, r"x0 must be a finite number"),
        (
            dict(game="example"),
            TypeError,
            r"game must be a drift.book.games.QuadraticGame; got str",
        ),
    ],
)
def test_play_refuses_bad_input(kwargs, error, message):
    args = dict(
        game=games.QuadraticGame.example(), dynamics="stackelberg", x0=0.0, y0=0.0, lr=0.1, steps=5
    )
    args.update(kwargs)
    with pytest.raises(error, match=message):
        games.play(args.pop("game"), args.pop("dynamics"), args.pop("x0"), args.pop("y0"), **args)


def test_update_matrix_and_resting_point_refuse_bad_dynamics_and_alpha():
    game = games.QuadraticGame.example()
    with pytest.raises(ValueError, match=r"dynamics must be one of"):
        game.update_matrix("nash", 0.1)
    with pytest.raises(ValueError, match=r"now called 'sequential'"):
        game.resting_point("alternating")
    with pytest.raises(ValueError, match=r"'mean_teacher' play needs alpha"):
        game.update_matrix("mean_teacher", 0.1)
    with pytest.raises(ValueError, match=r"alpha is the EMA decay"):
        game.resting_point("stackelberg", alpha=0.5)


def test_drift_resting_point_refused_where_it_is_not_unique():
    # a + b s + (1 - alpha) s (b + c s) = -2 + 1 + 1 = 0 at alpha = 0: the one-step gradient along
    # the best response is constant
    game = games.QuadraticGame(a=-2.0, b=1.0, d=1.0, e=-1.0)
    with pytest.raises(ValueError, match=r"no unique resting point at alpha = 0.0"):
        game.resting_point("drift", alpha=0.0)


# --- figure and widget -------------------------------------------------------------------


def test_phase_portrait_draws_every_trajectory():
    game = games.QuadraticGame.example()
    paths = {
        d: games.play(game, d, -1.0, -1.0, lr=0.1, steps=20, **_kwargs(d, follower_lr=0.1))
        for d in games.DYNAMICS
    }
    ax = plotting.plot_phase_portrait(
        game, paths, marks={"resting point": game.resting_point("drift", alpha=0.7)}
    )
    labels = [line.get_label() for line in ax.get_lines()]
    for name in games.DYNAMICS:
        assert name in labels
    assert "Stackelberg equilibrium" in labels and "resting point" in labels
    # a game without a Stackelberg equilibrium or a unique stationary point still draws
    for coupling, missing in ((0.5, "Stackelberg equilibrium"), (1.0, "stationary point")):
        game = games.QuadraticGame.example(coupling)
        ax = plotting.plot_phase_portrait(
            game, {d: games.play(game, d, -1.0, -1.0, lr=0.1, steps=20) for d in CLASSIC}
        )
        labels = [line.get_label() for line in ax.get_lines()]
        assert missing not in labels and "sequential" in labels


def test_stackelberg_game_explorer_widget():
    ipywidgets = pytest.importorskip("ipywidgets")
    from drift.book.widgets import stackelberg_game_explorer

    widget = stackelberg_game_explorer(steps=30)
    assert isinstance(widget, ipywidgets.interactive)
    slider = widget.children[0]
    assert slider.description == "coupling κ"
    assert slider.min <= 0.3 and slider.max >= 3.0
    # strong, critical and weak coupling (no Stackelberg equilibrium)
    for value in (2.5, 1.0, 0.5, 0.3):
        slider.value = value
        widget.update()
    assert isinstance(widget, ipywidgets.interactive)
