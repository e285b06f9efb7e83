"""Checks of arguments and settings, one way everywhere (base layer: imports nothing from drift).

Each check names the argument, says what was expected and what was got, and returns the value
as a plain Python number (a NumPy scalar such as `np.int64(5)` becomes `5`, so it pickles and
checkpoints like one). A value of the wrong type raises `ArgumentTypeError`, a value of the
right type out of range raises `ValueError`:

    check_integer("steps", steps, minimum=1)       # an integer >= 1, not a bool
    check_real("alpha", alpha, minimum=0, maximum=1, high_open=True)
    check_choice("precision", precision, ("fp32", "bf16", "fp16"))

Integers are `numbers.Integral` (int, NumPy integers) and reals `numbers.Real` (int, float,
NumPy floats); bool is refused in both, since True would pass as 1.
"""

from __future__ import annotations

import math
import numbers


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type. A TypeError; also a ValueError, so code written when these
    checks raised ValueError for every bad value keeps catching them."""


def _got(value) -> str:
    return (
        f"got {value!r}"
        if isinstance(value, (numbers.Number, str)) or value is None
        else (f"got {type(value).__name__} {value!r}")
    )


def _fail(error: type, name: str, expected: str, hint: str, value) -> None:
    hint = f" ({hint})" if hint else ""
    raise error(f"{name} must be {expected}{hint}; {_got(value)}")


def check_integer(
    name: str, value, *, minimum: int | None = None, maximum: int | None = None, hint: str = ""
) -> int:
    """`value` as an int, checked to be an integer (not a bool) in [minimum, maximum] (either
    bound optional). ArgumentTypeError for a non-integer, ValueError out of range; both say
    "<name> must be an integer >= <minimum> ...; got <value>"."""
    if minimum is not None and maximum is not None:
        expected = f"an integer in [{minimum}, {maximum}]"
    elif minimum is not None:
        expected = f"an integer >= {minimum}"
    elif maximum is not None:
        expected = f"an integer <= {maximum}"
    else:
        expected = "an integer"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        _fail(ArgumentTypeError, name, expected, hint, value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        _fail(ValueError, name, expected, hint, value)
    return int(value)


def _interval(minimum, maximum, low_open: bool, high_open: bool) -> str:
    if minimum is not None and maximum is not None:
        return f"in {'(' if low_open else '['}{minimum:g}, {maximum:g}{')' if high_open else ']'}"
    if minimum is not None:
        return f"{'>' if low_open else '>='} {minimum:g}"
    if maximum is not None:
        return f"{'<' if high_open else '<='} {maximum:g}"
    return ""


def check_real(
    name: str,
    value,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = True,
    expected: str | None = None,
    hint: str = "",
):
    """`value` checked to be a real number (not a bool; NaN refused; +-inf refused if `finite`)
    in the interval from `minimum` to `maximum` (either bound optional; `low_open` /
    `high_open` exclude it); an int or float stays as it is, another real (a NumPy float)
    becomes a float. ArgumentTypeError for a non-number, ValueError for a bad value. The message
    says "<name> must be <expected> (<hint>); got <value>", where `expected` defaults to the
    interval ("in [0, 1)" for two bounds, "> 0" for one), or "a finite number > 0" for a
    finite number with one bound or none."""
    if expected is None:
        interval = _interval(minimum, maximum, low_open, high_open)
        if minimum is not None and maximum is not None or not finite:
            expected = interval or "a number"
        else:
            expected = f"a finite number {interval}".rstrip()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        _fail(ArgumentTypeError, name, expected, hint, value)
    bad = (
        math.isnan(value)
        or (finite and math.isinf(value))
        or (minimum is not None and (value <= minimum if low_open else value < minimum))
        or (maximum is not None and (value >= maximum if high_open else value > maximum))
    )
    if bad:
        _fail(ValueError, name, expected, hint, value)
    return value if type(value) in (int, float) else float(value)


def check_choice(name: str, value, choices: tuple | list | dict, *, hint: str = ""):
    """`value`, checked to be one of `choices` (ValueError: "<name> must be one of 'a', 'b'
    (<hint>); got <value>")."""
    try:
        ok = value in choices
    except TypeError:  # an unhashable value looked up in a dict or set
        ok = False
    if not ok:
        _fail(ValueError, name, f"one of {', '.join(map(repr, choices))}", hint, value)
    return value


def check_bool(name: str, value, *, hint: str = "") -> bool:
    """`value`, checked to be True or False (ArgumentTypeError otherwise: 1 and "yes" too)."""
    if not isinstance(value, bool):
        _fail(ArgumentTypeError, name, "True or False", hint, value)
    return value
