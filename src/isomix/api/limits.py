"""Refusals by the plan and by rate limits, in one shape: `{"detail", "code", "limit",
"plan", "value", "resets_at"|"upgrade"}`. 429 (with Retry-After) for daily and rate limits,
413 for size, 403 for what the plan does not include, 422 for song length."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from isomix import plans
from isomix.api.errors import ApiError
from isomix.models import utcnow

UPGRADE_HINT = "Pro lifts it: see Account (upgrade)."


def _upgrade(plan: plans.Plan) -> str | None:
    return UPGRADE_HINT if plan.name == "free" else None


def refusal(
    status: int,
    limit: str,
    plan: plans.Plan,
    value: Any,
    detail: str,
    *,
    resets_at: datetime | None = None,
) -> ApiError:
    fields: dict[str, Any] = {"limit": limit, "plan": plan.name, "value": value}
    headers: dict[str, str] | None = None
    upgrade = _upgrade(plan)
    if upgrade is not None:
        fields["upgrade"] = upgrade
        detail = f"{detail} {upgrade}"
    if resets_at is not None:
        fields["resets_at"] = resets_at.isoformat()
        wait = max(1, math.ceil((resets_at - utcnow()).total_seconds()))
        headers = {"Retry-After": str(wait)}
    code = {413: "too_large", 429: "limit_reached", 403: "not_in_plan"}.get(status, "too_long")
    return ApiError(status, code, detail, headers=headers, fields=fields)


def rate_limited(rule: str, retry_after: float, detail: str) -> ApiError:
    seconds = max(1, math.ceil(retry_after))
    return ApiError(
        429,
        "rate_limited",
        f"{detail} Try again in {seconds} s.",
        headers={"Retry-After": str(seconds)},
        fields={"limit": rule, "value": seconds},
    )
