"""Constructor argument checks shared by every layer.

Each check raises a `ValueError` worded as Keras words its own, naming the
argument and echoing the value it received:

    Invalid value for argument num_heads. Expected a positive integer. Received: num_heads=0

Booleans are refused where a number is expected (`True` is an `int` in Python,
but `units=True` is always a mistake).
"""

import numbers


def _invalid(name, expected, value):
    return ValueError(
        f"Invalid value for argument {name}. Expected {expected}. Received: {name}={value!r}"
    )


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(name, value, allow_none=False):
    """Checks that `value` is an integer > 0 (or `None` with `allow_none`); returns it."""
    if value is None and allow_none:
        return None
    if not _is_integer(value) or value <= 0:
        raise _invalid(name, "a positive integer" + (" or None" if allow_none else ""), value)
    return int(value)


def positive_number(name, value):
    """Checks that `value` is a real number > 0; returns it as a float."""
    if not _is_real(value) or value <= 0:
        raise _invalid(name, "a positive number", value)
    return float(value)


def fraction(name, value):
    """Checks that `value` is a rate in `[0, 1)` (a dropout rate); returns it as a float."""
    if not _is_real(value) or not 0.0 <= value < 1.0:
        raise _invalid(name, "a float in [0, 1)", value)
    return float(value)


def one_of(name, value, choices):
    """Checks that `value` is one of `choices`; returns it."""
    if value not in choices:
        raise _invalid(name, f"one of {tuple(choices)}", value)
    return value
