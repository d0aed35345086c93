"""Human labels for the coded values stored in timeline entries (status, priority, tier…).

Apps register their choices in ``AppConfig.ready``; templates show ``value|label``.
"""

from __future__ import annotations

from typing import Any

_labels: dict[str, Any] = {}


def register(*choices: Any) -> None:
    for enum in choices:
        for value, label in enum.choices:
            _labels.setdefault(value, label)


def label(value: Any) -> str:
    return str(_labels.get(value, value))
