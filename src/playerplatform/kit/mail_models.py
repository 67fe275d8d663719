"""The dev mailbox: mail stored instead of sent, listable by admins."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from playerplatform.kit.db import Base, new_uuid, utcnow


class DevMail(Base):
    __tablename__ = "dev_mails"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    to_address: Mapped[str] = mapped_column(sa.String(320), index=True)
    subject: Mapped[str] = mapped_column(sa.String(256))
    template: Mapped[str] = mapped_column(sa.String(64))
    body_text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
