"""Strict-JSON values: NaN and infinities (a metric with no query to average) become null.

One definition for every place a result leaves as JSON: the CLI's --json, a
training outcome, a retrain job's stored result.
"""

from __future__ import annotations

import math
from typing import Any


def json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
