"""The tier table (seed facts). The only place tier limits live."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Tier(StrEnum):
    DEVELOPER = "developer"  # the free plan
    PAYG = "payg"
    ENTERPRISE = "enterprise"


class Billing(StrEnum):
    """Whether a component is one of the tier's free components or a paid one."""

    FREE = "free"
    PAID = "paid"


@dataclass(frozen=True)
class TierLimits:
    #: Free components per organization (the oldest ones); every other one is paid.
    free_components: int
    #: Components per organization unless the organization allows paid components
    #: (OrganizationSpec.allow_paid_components); None means unlimited.
    max_components: int | None
    #: Environments per organization, defaults included; None means unlimited.
    max_environments: int | None
    #: Only the two default environments (no user-created ones).
    defaults_only: bool
    #: May use data planes other than the organization's default.
    multiple_data_planes: bool
    #: Undeployed builds retained (seed: 1 on the free tier, 5 otherwise).
    build_retention: int


_PAID = TierLimits(
    free_components=0,
    max_components=None,
    max_environments=5,
    defaults_only=False,
    multiple_data_planes=True,
    build_retention=5,
)

TIER_LIMITS: dict[Tier, TierLimits] = {
    Tier.DEVELOPER: TierLimits(
        free_components=5,
        max_components=5,
        max_environments=2,
        defaults_only=True,
        multiple_data_planes=False,
        build_retention=1,
    ),
    Tier.PAYG: _PAID,
    # Enterprise: pay-as-you-go without a limit on environments.
    Tier.ENTERPRISE: replace(_PAID, max_environments=None),
}


def limits_for(tier: Tier | str) -> TierLimits:
    return TIER_LIMITS[Tier(tier)]
