from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def spool(request: HttpRequest) -> dict[str, Any]:
    return {"open_signup": settings.SPOOL_OPEN_SIGNUP}
