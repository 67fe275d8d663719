"""Wire models of data export and erasure."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field


class PrivacyRequestOut(BaseModel):
    request_id: str
    kind: Literal["export", "erasure"]
    status: str = Field(description="export: pending, ready; erasure: scheduled, cancelled, done")
    canonical_id: str = Field(description="The player (their pseudonym once erased).")
    requested_by: str
    created_at: dt.datetime
    erase_at: dt.datetime | None = Field(None, description="When a scheduled erasure runs.")
    completed_at: dt.datetime | None = None
    download_url: str | None = Field(None, description="A ready export's link, while valid.")
    expires_at: dt.datetime | None = Field(None, description="When the export's link expires.")
