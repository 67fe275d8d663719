"""How much a player's report counts.

A report's weight is fixed when it is filed:

    weight = age x verification x accuracy

- age: the account's age over `PP_UGC_REPORTER_MATURE_DAYS`, between 0.1 and 1;
- verification: 1 for an account with a verified email or a linked Steam or Epic account
  (identities that cost something to make), `PP_UGC_REPORT_UNVERIFIED_FACTOR` otherwise;
- accuracy: (upheld + 1) / (upheld + dismissed + 2) x 2, from the reporter's decided reports:
  1 with no history, towards 2 for a reporter moderators keep agreeing with, towards 0 for
  one they keep dismissing.

A mature, verified player with no history weighs 1; a guest made a minute ago, 0.025. An item
is hidden when its open reports weigh `PP_UGC_REPORT_THRESHOLD` (3), so fresh accounts made
to bury an item cannot, while three established players still can.
"""

from __future__ import annotations

import uuid

from playerplatform.auth import service as identities
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.settings import Settings
from playerplatform.ugc import repository
from playerplatform.users import service as users

MIN_AGE_FACTOR = 0.1
PAID_IDENTITIES = frozenset({"steam", "epic"})


async def reporter_weight(uow: UnitOfWork, settings: Settings, reporter_id: uuid.UUID) -> float:
    """The weight a report filed now by `reporter_id` carries (see the module docstring)."""
    user = await users.get_user(uow, reporter_id)
    age_days = (utcnow() - user.created_at).total_seconds() / 86_400
    age = min(1.0, max(MIN_AGE_FACTOR, age_days / settings.ugc_reporter_mature_days))
    verified = user.email_verified or any(
        identity.provider in PAID_IDENTITIES
        for identity in await identities.linked_identities(uow, reporter_id)
    )
    verification = 1.0 if verified else settings.ugc_report_unverified_factor
    upheld, dismissed = await repository.report_record(uow, reporter_id)
    accuracy = 2 * (upheld + 1) / (upheld + dismissed + 2)
    return round(age * verification * accuracy, 4)
