"""Stackelberg games (drift.games, DESIGN §2): the implicit-function-theorem gradient against
central finite differences in float64, the equilibria's defining conditions, the three gradient
dynamics, bad input, and the chapter-3 widget."""
import math

import numpy as np
import pytest
import torch

from drift import games

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
    """dF/dx by autograd Hessian blocks = central difference of F(x) = f(x, y*(x)), with the
    follower's best response recomputed at x +- eps."""
    for x in (-1.3, 0.2, 0.9):
        x64 = torch.tensor(x, dtype=torch.float64)
        ift = games.implicit_gradient(game.leader_cost, game.follower_cost, x64, game.best_response(x64))
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
            y = y - torch.linalg.solve(torch.func.jacrev(torch.func.grad(g, argnums=1), argnums=1)(x, y), gy)
        assert torch.func.grad(g, argnums=1)(x, y).abs().max() < 1e-13
        return y

    x = torch.tensor([0.3, -0.7], dtype=torch.float64)
    ift = games.implicit_gradient(f, g, x, best_response(x))
    assert ift.shape == (2,)
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        v = torch.randn(2, generator=gen, dtype=torch.float64)
        fd = (f(x + EPS * v, best_response(x + EPS * v)) - f(x - EPS * v, best_response(x - EPS * v))) / (2 * EPS)
        assert relative_error((ift @ v).item(), fd.item()) < TOL


def test_response_jacobian_of_the_ema_follower_is_one_minus_alpha():
    """The EMA phi = alpha phi_prev + (1 - alpha) theta is the best response to
    g(theta, phi) = alpha/2 |phi - phi_prev|² + (1 - alpha)/2 |phi - theta|², so dphi/dtheta = (1 - alpha) I."""
    gen = torch.Generator().manual_seed(0)
    phi_prev, theta = torch.randn(4, generator=gen, dtype=torch.float64), torch.randn(4, generator=gen, dtype=torch.float64)
    for alpha in (0.5, 0.9, 0.99):
        def g(th, ph):
            return 0.5 * alpha * (ph - phi_prev).pow(2).sum() + 0.5 * (1 - alpha) * (ph - th).pow(2).sum()

        phi = alpha * phi_prev + (1 - alpha) * theta
        assert torch.func.grad(g, argnums=1)(theta, phi).abs().max() < 1e-15  # phi is the best response
        jac = games.response_jacobian(g, theta, phi)
        torch.testing.assert_close(jac, (1 - alpha) * torch.eye(4, dtype=torch.float64), rtol=0, atol=1e-15)


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
        assert abs(game.g_y(x, y)) < 1e-12
        xt, yt = torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
        assert abs(torch.func.grad(game.follower_cost, argnums=1)(xt, yt).item()) < 1e-12
        for dy in (-1e-3, 1e-3, 0.5):
            assert game.follower_cost(x, y + dy) > game.follower_cost(x, y)


@pytest.mark.parametrize("game", GAMES)
def test_partial_derivatives_match_autograd(game):
    x, y = torch.tensor(0.7, dtype=torch.float64), torch.tensor(-0.4, dtype=torch.float64)
    f_x, f_y = torch.func.grad(game.leader_cost, argnums=(0, 1))(x, y)
    g_y = torch.func.grad(game.follower_cost, argnums=1)(x, y)
    assert game.f_x(0.7, -0.4) == pytest.approx(f_x.item(), rel=1e-12, abs=1e-14)
    assert game.f_y(0.7, -0.4) == pytest.approx(f_y.item(), rel=1e-12, abs=1e-14)
    assert game.g_y(0.7, -0.4) == pytest.approx(g_y.item(), rel=1e-12, abs=1e-14)


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
    assert abs(game.f_x(x_n, y_n)) < 1e-10 and abs(game.g_y(x_n, y_n)) < 1e-10
    if game.a > 0:
        assert np.allclose(game.nash_equilibrium(), (x_n, y_n))
        for delta in (-0.3, 0.3):  # neither player gains by moving alone
            assert game.leader_cost(x_n + delta, y_n) > game.leader_cost(x_n, y_n)
            assert game.follower_cost(x_n, y_n + delta) > game.follower_cost(x_n, y_n)
    else:
        with pytest.raises(ValueError, match=r"no Nash equilibrium.*a = .* <= 0"):
            game.nash_equilibrium()
        assert game.leader_cost(x_n + 0.3, y_n) < game.leader_cost(x_n, y_n)  # the leader would move


def test_chapter_game_in_closed_form():
    game = games.QuadraticGame.example(2.0)
    np.testing.assert_allclose(game.stackelberg_equilibrium(), [0.5, 1.0], atol=1e-15)
    np.testing.assert_allclose(game.stationary_point(), [0.0, 0.0], atol=1e-15)
    assert game.total_curvature == pytest.approx(7.0)
    assert game.response_slope == pytest.approx(2.0)


# --- gradient play -----------------------------------------------------------------------


@pytest.mark.parametrize("game", GAMES)
@pytest.mark.parametrize("dynamics", games.DYNAMICS)
def test_update_matrix_is_one_step_of_play(game, dynamics):
    fixed = game.stackelberg_equilibrium() if dynamics == "stackelberg" else game.stationary_point()
    start = np.array([0.3, -1.1])
    path = games.play(game, dynamics, *start, lr=0.07, steps=1, follower_lr=0.2)
    M = game.update_matrix(dynamics, 0.07, follower_lr=0.2)
    np.testing.assert_allclose(path[1] - fixed, M @ (start - fixed), rtol=1e-12, atol=1e-12)


def test_play_on_the_chapter_game():
    """Stackelberg play converges to the Stackelberg equilibrium; simultaneous play spirals out;
    alternating play circles its own fixed point and is still far from the equilibrium."""
    game = games.QuadraticGame.example(2.0)
    target = game.stackelberg_equilibrium()
    paths = {d: games.play(game, d, -1.0, -1.0, lr=0.1, steps=150) for d in games.DYNAMICS}
    for path in paths.values():
        assert path.shape == (151, 2)
        np.testing.assert_array_equal(path[0], [-1.0, -1.0])
    dist = {d: np.linalg.norm(p - target, axis=1) for d, p in paths.items()}
    assert dist["stackelberg"][-1] < 1e-10
    assert dist["simultaneous"][-1] > 5 * dist["simultaneous"][0]
    assert dist["alternating"][-40:].max() > 0.5
    radius = {d: np.abs(np.linalg.eigvals(game.update_matrix(d, 0.1))).max() for d in games.DYNAMICS}
    assert radius["simultaneous"] > 1 > radius["alternating"] > radius["stackelberg"]


@pytest.mark.parametrize("coupling", [1.2, 2.0, 3.0])
def test_stackelberg_play_converges_over_the_widget_range(coupling):
    game = games.QuadraticGame.example(coupling)
    path = games.play(game, "stackelberg", -1.0, -1.0, lr=0.1, steps=300)
    assert np.linalg.norm(path[-1] - game.stackelberg_equilibrium()) < 1e-6


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", [0.0, -1.0])
def test_follower_not_strongly_convex_is_refused(d):
    with pytest.raises(ValueError, match=r"d must be > 0: the follower's cost g must be strongly convex in y"):
        games.QuadraticGame(d=d)


def test_non_finite_parameters_are_refused():
    with pytest.raises(ValueError, match=r"q must be a finite number"):
        games.QuadraticGame(q=math.nan)
    with pytest.raises(ValueError, match=r"b must be a finite number"):
        games.QuadraticGame(b="2")


def test_example_needs_enough_coupling():
    with pytest.raises(ValueError, match=r"coupling must be > 1/sqrt\(2\)"):
        games.QuadraticGame.example(0.5)


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
    with pytest.raises(ValueError, match=r"follower_cost must be strongly convex in y.*smallest eigenvalue -1"):
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
        (dict(dynamics="gradient"), ValueError, r"dynamics must be one of 'simultaneous', 'alternating', 'stackelberg'"),
        (dict(lr=0.0), ValueError, r"lr must be a finite number > 0"),
        (dict(lr=math.inf), ValueError, r"lr must be a finite number > 0"),
        (dict(follower_lr=-0.1), ValueError, r"follower_lr must be a finite number > 0"),
        (dict(steps=0), ValueError, r"steps must be an integer >= 1"),
        (dict(steps=10.0), ValueError, r"steps must be an integer >= 1"),
        (dict(x0=math.nan), ValueError, r"x0 must be a finite number"),
        (dict(game="example"), TypeError, r"game must be a drift.games.QuadraticGame; got str"),
    ],
)
def test_play_refuses_bad_input(kwargs, error, message):
    args = dict(game=games.QuadraticGame.example(), dynamics="stackelberg", x0=0.0, y0=0.0, lr=0.1, steps=5)
    args.update(kwargs)
    with pytest.raises(error, match=message):
        games.play(args.pop("game"), args.pop("dynamics"), args.pop("x0"), args.pop("y0"), **args)


def test_update_matrix_refuses_unknown_dynamics():
    with pytest.raises(ValueError, match=r"dynamics must be one of"):
        games.QuadraticGame.example().update_matrix("nash", 0.1)


# --- figure and widget -------------------------------------------------------------------


def test_phase_portrait_draws_every_trajectory():
    game = games.QuadraticGame.example()
    paths = {d: games.play(game, d, -1.0, -1.0, lr=0.1, steps=20) for d in games.DYNAMICS}
    ax = games.plot_phase_portrait(game, paths)
    labels = [line.get_label() for line in ax.get_lines()]
    for name in games.DYNAMICS:
        assert name in labels
    assert "Stackelberg equilibrium" in labels


def test_stackelberg_game_explorer_widget():
    ipywidgets = pytest.importorskip("ipywidgets")
    from drift.widgets import stackelberg_game_explorer

    widget = stackelberg_game_explorer(steps=30)
    assert isinstance(widget, ipywidgets.interactive)
    slider = widget.children[0]
    assert slider.description == "coupling k"
    slider.value = 2.5  # runs the update with a non-default coupling
    widget.update()
    assert isinstance(widget, ipywidgets.interactive)
