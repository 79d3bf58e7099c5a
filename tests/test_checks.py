"""chatapp.checks: Django's security checks, seeing the classes of chatapp.middleware.

Django finds its security middleware by exact dotted path, so with our
subclasses installed its middleware-gated deploy checks pass without looking.
These tests show that blindness (the control), then that Spool's checks give
the warnings back: in-process for the check functions, and through
``manage.py check --deploy`` in a production environment for the whole chain.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.checks import CheckMessage, Warning
from django.core.checks.security.base import check_sts
from django.core.management import call_command
from django.test import override_settings

from chatapp import middleware
from chatapp.checks import as_django_path, security_as_django_sees_it, security_middleware
from tests.test_settings import check_deploy, production_env

# What each class of chatapp.middleware stands for, as Django names it.
DJANGO_PATHS = {
    "chatapp.middleware.SecurityMiddleware": "django.middleware.security.SecurityMiddleware",
    "chatapp.middleware.SessionMiddleware": "django.contrib.sessions.middleware.SessionMiddleware",
    "chatapp.middleware.CommonMiddleware": "django.middleware.common.CommonMiddleware",
    "chatapp.middleware.CsrfViewMiddleware": "django.middleware.csrf.CsrfViewMiddleware",
    "chatapp.middleware.AuthenticationMiddleware": (
        "django.contrib.auth.middleware.AuthenticationMiddleware"
    ),
    "chatapp.middleware.MessageMiddleware": "django.contrib.messages.middleware.MessageMiddleware",
    "chatapp.middleware.XFrameOptionsMiddleware": (
        "django.middleware.clickjacking.XFrameOptionsMiddleware"
    ),
    "chatapp.middleware.ContentSecurityPolicyMiddleware": (
        "django.middleware.csp.ContentSecurityPolicyMiddleware"
    ),
}


def ids(messages: Sequence[CheckMessage]) -> set[str]:
    return {str(m.id) for m in messages}


# -- as_django_path ---------------------------------------------------------------


def test_every_class_of_chatapp_middleware_is_mapped() -> None:
    """A class added to chatapp.middleware must be added here too."""
    classes = {
        f"{middleware.__name__}.{name}"
        for name, cls in inspect.getmembers(middleware, inspect.isclass)
        if issubclass(cls, middleware.OnTheLoop) and cls is not middleware.OnTheLoop
    }
    assert classes == set(DJANGO_PATHS)


@pytest.mark.parametrize(("ours", "djangos"), DJANGO_PATHS.items())
def test_as_django_path_names_the_django_parent(ours: str, djangos: str) -> None:
    assert as_django_path(ours) == djangos


@pytest.mark.parametrize(
    "path",
    [
        "chatapp.static_files.StaticFilesMiddleware",
        "django_htmx.middleware.HtmxMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
    ],
)
def test_as_django_path_leaves_other_classes_alone(path: str) -> None:
    assert as_django_path(path) == path


# -- security_middleware: W001-W003 by class ----------------------------------------

PROTECTIONS = [
    ("spool.W001", "chatapp.middleware.SecurityMiddleware"),
    ("spool.W002", "chatapp.middleware.XFrameOptionsMiddleware"),
    ("spool.W003", "chatapp.middleware.CsrfViewMiddleware"),
]


def _without(ours: str) -> list[str]:
    return [p for p in settings.MIDDLEWARE if p not in (ours, DJANGO_PATHS[ours])]


def test_the_real_settings_have_every_protection() -> None:
    assert security_middleware() == []


@pytest.mark.parametrize(("check_id", "ours"), PROTECTIONS)
def test_a_missing_protection_is_reported(check_id: str, ours: str) -> None:
    with override_settings(MIDDLEWARE=_without(ours)):
        found = security_middleware()
    assert found == [
        Warning(
            f"No {DJANGO_PATHS[ours]} (or subclass) in MIDDLEWARE.",
            hint="chatapp.middleware has the event-loop versions of Django's middleware.",
            id=check_id,
        )
    ]


@pytest.mark.parametrize(("check_id", "ours"), PROTECTIONS)
@pytest.mark.parametrize("which", ["ours", "djangos"])
def test_either_class_is_protection_enough(check_id: str, ours: str, which: str) -> None:
    installed = ours if which == "ours" else DJANGO_PATHS[ours]
    with override_settings(MIDDLEWARE=[*_without(ours), installed]):
        assert check_id not in ids(security_middleware())


def test_no_csrf_middleware_at_all_warns_w003_through_the_check_command() -> None:
    with override_settings(MIDDLEWARE=_without("chatapp.middleware.CsrfViewMiddleware")):
        err = StringIO()
        call_command("check", deploy=True, tags=["security"], stdout=StringIO(), stderr=err)
    assert "spool.W003" in err.getvalue()
    assert "security.W003" not in err.getvalue()  # silenced: it cannot see subclasses


# -- security_as_django_sees_it: the gated checks -----------------------------------


def test_control_django_alone_is_blind_to_our_security_middleware() -> None:
    with override_settings(SECURE_HSTS_SECONDS=0):
        assert check_sts(None) == [], "Django sees no SecurityMiddleware, so no HSTS check"
        with override_settings(MIDDLEWARE=[DJANGO_PATHS.get(p, p) for p in settings.MIDDLEWARE]):
            assert "security.W004" in ids(check_sts(None))


def test_gated_checks_fire_as_django_words_them() -> None:
    # The test settings are a developer's: no HSTS, no secure cookies.
    with override_settings(SECURE_HSTS_SECONDS=0, CSRF_COOKIE_SECURE=False):
        found = security_as_django_sees_it()
    assert {"security.W004", "security.W016"} <= ids(found)
    # Only what the first run missed: never the "no such middleware" ones.
    assert not ids(found) & {"security.W001", "security.W002", "security.W003"}


def test_gated_checks_stay_quiet_when_the_settings_are_right() -> None:
    with override_settings(SECURE_HSTS_SECONDS=3600, CSRF_COOKIE_SECURE=True):
        assert not ids(security_as_django_sees_it()) & {"security.W004", "security.W016"}


def test_with_djangos_own_classes_there_is_nothing_to_add() -> None:
    with override_settings(
        MIDDLEWARE=[DJANGO_PATHS.get(p, p) for p in settings.MIDDLEWARE], SECURE_HSTS_SECONDS=0
    ):
        assert security_as_django_sees_it() == []
        assert "security.W004" in ids(check_sts(None))  # Django reports it itself


# -- the whole chain, as `manage.py check --deploy` runs in production --------------


def test_check_deploy_reports_missing_hsts_in_production(tmp_path: Path) -> None:
    result = check_deploy(production_env(tmp_path, SPOOL_HSTS_SECONDS="0"))
    assert result.returncode != 0
    assert "security.W004" in result.stderr
    assert "W001" not in result.stderr
    assert "W003" not in result.stderr


def test_check_deploy_is_clean_with_hsts_in_production(tmp_path: Path) -> None:
    """The control: the same production environment with HSTS passes."""
    result = check_deploy(production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_endpoint_configuration_stops_the_checks() -> None:
    from chatapp.checks import model_endpoints

    assert model_endpoints(None) == []
    with override_settings(SPOOL_LLM_ENDPOINTS='[{"name": "a"}]'):
        (error,) = model_endpoints(None)
    assert error.id == "spool.E001"
    assert "endpoint 'a': 'base_url'" in error.msg
    missing = (
        '[{"name": "a", "base_url": "http://a/v1", "api_key_env": "NO_SUCH_VAR_X", '
        '"models": ["m"]}]'
    )
    with override_settings(SPOOL_LLM_ENDPOINTS=missing):
        (error,) = model_endpoints(None)
    assert "NO_SUCH_VAR_X" in error.msg
