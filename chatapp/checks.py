"""System checks of Spool's own: the model endpoints, and Django's security checks
seeing our middleware.

``model_endpoints`` reads the endpoint configuration and each key variable it
names, so a mistake stops ``migrate``/``runserver``/``check --deploy`` with
the field named, instead of failing a user's first send.

Django's deploy checks find their middleware by exact dotted path
(``"django.middleware.security.SecurityMiddleware" in MIDDLEWARE``). With the
event-loop subclasses of ``chatapp.middleware`` in MIDDLEWARE they would see
none: W001-W003 ("no such middleware") would fire, and every check gated on
a middleware (HSTS W004, SSL redirect W008, X-Frame-Options W019, secure
session and CSRF cookies W010/W016…) would silently pass. So settings silence
W001-W003, and here:

- ``security_middleware`` stands in for W001-W003, by class: it warns when a
  protection is missing altogether (neither Django's class nor a subclass);
- ``security_as_django_sees_it`` runs Django's own security checks again with
  each subclass named by its Django class, and reports what that run finds
  beyond the first one: the gated checks, exactly as Django words them.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.checks.registry import registry
from django.core.exceptions import ImproperlyConfigured
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.test.utils import override_settings
from django.utils.module_loading import import_string

from chatapp import runtime
from chatapp.middleware import OnTheLoop

# The check Django would have run, for each protection.
REQUIRED = {
    "W001": SecurityMiddleware,
    "W002": XFrameOptionsMiddleware,
    "W003": CsrfViewMiddleware,
}

# Set while the checks run again inside our own check (no recursion).
_rerun: ContextVar[bool] = ContextVar("spool_security_rerun", default=False)


@register(Tags.security, deploy=True)
def security_middleware(**kwargs: Any) -> list[CheckMessage]:
    installed = [import_string(path) for path in settings.MIDDLEWARE]
    return [
        Warning(
            f"No {required.__module__}.{required.__name__} (or subclass) in MIDDLEWARE.",
            hint="chatapp.middleware has the event-loop versions of Django's middleware.",
            id=f"spool.{check_id}",
        )
        for check_id, required in REQUIRED.items()
        if not any(isinstance(cls, type) and issubclass(cls, required) for cls in installed)
    ]


def as_django_path(path: str) -> str:
    """The Django class a ``chatapp.middleware`` class stands for; other paths as they are."""
    cls = import_string(path)
    if not (isinstance(cls, type) and issubclass(cls, OnTheLoop)):
        return path
    django_class = next(base for base in cls.__bases__ if base is not OnTheLoop)
    return f"{django_class.__module__}.{django_class.__qualname__}"


@register(Tags.security, deploy=True)
def security_as_django_sees_it(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    as_django = [as_django_path(path) for path in settings.MIDDLEWARE]
    if _rerun.get() or as_django == list(settings.MIDDLEWARE):
        return []
    token = _rerun.set(True)
    try:
        run: dict[str, Any] = {
            "app_configs": app_configs,
            "tags": [Tags.security],
            "include_deployment_checks": True,
            "databases": databases,
        }
        ours = registry.run_checks(**run)
        with override_settings(MIDDLEWARE=as_django):
            djangos = registry.run_checks(**run)
    finally:
        _rerun.reset(token)
    return [message for message in djangos if message not in ours]


@register()
def model_endpoints(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    try:
        endpoints = runtime.catalogue().endpoints.values()
        for endpoint in endpoints:
            endpoint.api_key()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="spool.E001")]
    return []
