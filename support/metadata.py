"""Every model, imported once, so that migrations and tests see the whole schema."""

from __future__ import annotations

from support.auth import models as auth_models
from support.db import Base
from support.jobs import Job
from support.kb import models as kb_models
from support.mail import models as mail_models
from support.tickets import models as tickets_models
from support.tickets import report_models

target_metadata = Base.metadata

__all__ = [
    "Job",
    "auth_models",
    "kb_models",
    "mail_models",
    "report_models",
    "target_metadata",
    "tickets_models",
]
