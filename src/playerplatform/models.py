"""Imports every domain's tables so `Base.metadata` is complete (Alembic, tests)."""

from playerplatform.audit import models as audit_models
from playerplatform.auth import models as auth_models
from playerplatform.commerce import models as commerce_models
from playerplatform.config import models as config_models
from playerplatform.drops import models as drops_models
from playerplatform.jobs import models as jobs_models
from playerplatform.kit import mail_models
from playerplatform.kit.db import Base
from playerplatform.leaderboards import models as leaderboards_models
from playerplatform.messaging import models as messaging_models
from playerplatform.privacy import models as privacy_models
from playerplatform.safety import models as safety_models
from playerplatform.ugc import models as ugc_models
from playerplatform.users import models as users_models
from playerplatform.webhooks import models as webhooks_models

__all__ = [
    "Base",
    "audit_models",
    "auth_models",
    "commerce_models",
    "config_models",
    "drops_models",
    "jobs_models",
    "leaderboards_models",
    "mail_models",
    "messaging_models",
    "privacy_models",
    "safety_models",
    "ugc_models",
    "users_models",
    "webhooks_models",
]
