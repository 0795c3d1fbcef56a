"""Predictions the sheets ask for before a measurement (sheets 04-06).

A prediction cell defines a function without arguments that returns the prediction, e.g.
``def wider_direction(): return "forward"``, so that an unanswered one raises the blank's
NotImplementedError when its check calls it (an untouched sheet then stops only at its blanks)
instead of leaving a name undefined.
"""

from __future__ import annotations

from typing import Any

from vaelib.checks import call

__all__ = ["prediction_value"]


def prediction_value(prediction: Any, *, exercise: int, name: str) -> Any:
    """The student's prediction: ``prediction()`` if it is a function (the sheets' form), else itself."""
    if callable(prediction):
        return call(prediction, (), exercise=exercise, name=name, label="your prediction")
    return prediction
