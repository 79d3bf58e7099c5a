"""Spool settings: everything comes from the environment, with safe embedded defaults.

The embedded setup (no variables at all) is SQLite in WAL mode, the in-memory
event log and the offline demo model. ``DATABASE_URL`` (PostgreSQL) and
``REDIS_URL`` switch on the real services; an integration turns on only when
its variable is set.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from chatapp.database_config import database_config

# Lets admin classes be written with their type parameters (ModelAdmin[Message]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SPOOL_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("SPOOL_DEBUG", False)
# Production means "not a developer's machine": it must bring its own secret key.
PRODUCTION = env_bool("SPOOL_PRODUCTION", False)


def _secret_key() -> str:
    key = os.environ.get("SPOOL_SECRET_KEY", "")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("SPOOL_SECRET_KEY must be set when SPOOL_PRODUCTION=1.")
    # A development key is generated once and kept in var/ (git-ignored), so
    # sessions survive restarts without a key ever being committed.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("SPOOL_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("SPOOL_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "chatapp",
]

# Django's built-ins through chatapp/middleware.py: the same classes, with their
# hooks run on the event loop rather than through a thread hop each.
MIDDLEWARE = [
    "chatapp.middleware.SecurityMiddleware",
    # Right after SecurityMiddleware, so static files get its headers too; it
    # removes itself when SPOOL_SERVE_STATIC is off.
    "chatapp.static_files.StaticFilesMiddleware",
    "chatapp.middleware.SessionMiddleware",
    "chatapp.middleware.CommonMiddleware",
    "chatapp.middleware.CsrfViewMiddleware",
    "chatapp.middleware.AuthenticationMiddleware",
    "chatapp.middleware.MessageMiddleware",
    "chatapp.middleware.XFrameOptionsMiddleware",
    "chatapp.middleware.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "chatapp.urls"
ASGI_APPLICATION = "chatapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "chatapp.context_processors.spool",
            ],
        },
    },
]


if not os.environ.get("DATABASE_URL", "").strip():
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # the default SQLite file lives there
DATABASES = {"default": database_config(os.environ, VAR_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where collectstatic writes, and where nginx (or WhiteNoise) serves from.
STATIC_ROOT = Path(os.environ.get("SPOOL_STATIC_ROOT", "") or BASE_DIR / "staticfiles")
# The app serves /static/ itself through WhiteNoise (chatapp/static_files.py)
# unless a web server does: turn it off behind nginx.
SPOOL_SERVE_STATIC = env_bool("SPOOL_SERVE_STATIC", True)
# Serve collectstatic's output: names with a content hash (cached for a year,
# a new deploy changes the name) and gzip/brotli copies. Production and
# `make run` (which runs collectstatic first); without it (tests, development)
# files come from static/ as they are, and nothing needs collectstatic.
SPOOL_STATIC_MANIFEST = env_bool("SPOOL_STATIC_MANIFEST", PRODUCTION)
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if SPOOL_STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not SPOOL_STATIC_MANIFEST
# Look for edited files on every request only while developing.
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# HTTPS only in production (`manage.py check --deploy` passes; a test runs it).
# Behind a proxy that terminates TLS (nginx, a platform's router), set
# SPOOL_BEHIND_TLS_PROXY=1: Django then trusts its X-Forwarded-Proto header
# (the proxy must set it on every request, never pass on a client's) and
# leaves the http -> https redirect to the proxy, so local health checks on
# daphne's own port are not redirected. Without a proxy, Django redirects.
SPOOL_BEHIND_TLS_PROXY = env_bool("SPOOL_BEHIND_TLS_PROXY", False)
# One year of HSTS, the usual production value (start lower while trying
# HTTPS out: browsers remember it that long). Preload is a commitment that is
# slow to undo, so only on request.
SPOOL_HSTS_SECONDS = env_int("SPOOL_HSTS_SECONDS", 365 * 24 * 3600)
SPOOL_HSTS_PRELOAD = env_bool("SPOOL_HSTS_PRELOAD", False)
# Django finds its security middleware by exact path, so it misses the
# subclasses in chatapp/middleware.py; chatapp/checks.py checks them by class.
SILENCED_SYSTEM_CHECKS: list[str] = ["security.W001", "security.W002", "security.W003"]
if PRODUCTION:
    SECURE_HSTS_SECONDS = SPOOL_HSTS_SECONDS
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = SPOOL_HSTS_PRELOAD
    if not SPOOL_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS.append("security.W021")  # preload: opt-in, see above
    if SPOOL_BEHIND_TLS_PROXY:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        SILENCED_SYSTEM_CHECKS.append("security.W008")  # the proxy redirects to https
    else:
        SECURE_SSL_REDIRECT = True

# No inline script or style anywhere: static files and nonces only.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("SPOOL_LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# --- Spool ------------------------------------------------------------------

SPOOL_OPEN_SIGNUP = env_bool("SPOOL_OPEN_SIGNUP", True)
SPOOL_REDIS_URL = os.environ.get("REDIS_URL", "")

# Models: the offline demo model is always there, so the app works with no keys.
# SPOOL_LLM_ENDPOINTS (JSON, or a .json/.toml file's path) declares named model
# servers and their models' options (chatapp/endpoints.py). Without it, one
# server: SPOOL_LLM_BASE_URL, its key, and the models it serves.
SPOOL_LLM_ENDPOINTS = os.environ.get("SPOOL_LLM_ENDPOINTS", "")
SPOOL_LLM_BASE_URL = os.environ.get("SPOOL_LLM_BASE_URL", "")
SPOOL_LLM_API_KEY = os.environ.get("SPOOL_LLM_API_KEY", "")
SPOOL_LLM_MODELS = env_list("SPOOL_LLM_MODELS", "gpt-4o-mini" if SPOOL_LLM_BASE_URL else "")
# Which of SPOOL_LLM_MODELS are offered tools ("*": all of them).
SPOOL_LLM_TOOL_MODELS = env_list("SPOOL_LLM_TOOL_MODELS", "")
# Which of SPOOL_LLM_MODELS are reasoning models, offered the effort picker ("*": all).
SPOOL_LLM_REASONING_MODELS = env_list("SPOOL_LLM_REASONING_MODELS", "")
SPOOL_DEMO_MODEL = "demo"
# The demo model that always thinks first (the plain one thinks when asked to "think").
SPOOL_DEMO_REASONING_MODEL = "demo-thinking"
# The picker's preselected model; unset: the first one offered (the demo model
# when no server is configured).
SPOOL_DEFAULT_MODEL = os.environ.get("SPOOL_DEFAULT_MODEL", "")
# Seconds a deleted conversation can be restored (Undo); purged after that.
SPOOL_UNDO_DELETE_S = int(os.environ.get("SPOOL_UNDO_DELETE_S", "20"))
# The first answer of a conversation also asks the model for a short title
# (one small request of its own; docs/architecture.md, Titles). Off: titles
# stay the first words of the first message.
SPOOL_TITLES = env_bool("SPOOL_TITLES", True)
# Sent first in every request, unless a conversation sets its own ("": none).
SPOOL_SYSTEM_PROMPT = os.environ.get("SPOOL_SYSTEM_PROMPT", "")
# Tokens a model reads when its endpoint does not say (its context_window):
# small enough for most local models, so the history is cut before they fail.
SPOOL_DEFAULT_CONTEXT_WINDOW = int(os.environ.get("SPOOL_DEFAULT_CONTEXT_WINDOW", "16384"))
# Seconds between demo tokens; tests shorten it, the default reads like a real model.
SPOOL_DEMO_TOKEN_DELAY_S = env_float("SPOOL_DEMO_TOKEN_DELAY_S", 0.03)

SPOOL_MAX_MESSAGE_CHARS = int(os.environ.get("SPOOL_MAX_MESSAGE_CHARS", "16000"))
SPOOL_MAX_CONCURRENT_RUNS_PER_USER = int(os.environ.get("SPOOL_MAX_CONCURRENT_RUNS", "2"))
# Sends (messages and retries) per user per minute: a person never needs more,
# a script that loops on the model bill does.
SPOOL_MAX_SENDS_PER_MINUTE = int(os.environ.get("SPOOL_MAX_SENDS_PER_MINUTE", "20"))

# Seconds between SSE comments on a quiet stream (a stalled model, a long
# think): proxies close connections that stay silent past their read timeout
# (nginx: 60 s unless set, deploy/nginx.conf sets 1 h), and the browser would
# then reconnect. 15 s is well inside any of them.
SPOOL_SSE_HEARTBEAT_S = env_float("SPOOL_SSE_HEARTBEAT_S", 15.0)
if SPOOL_SSE_HEARTBEAT_S <= 0:
    raise ImproperlyConfigured("SPOOL_SSE_HEARTBEAT_S must be a number of seconds above 0.")

# Threads that run the requests' sync work (database hops, sync views), shared
# by all requests of the process (chatapp/asgi_handler.py). Each keeps its
# database connections, so this is also the most connections a process opens
# for requests (runs write through one more, chatapp/run_store.py).
SPOOL_REQUEST_THREADS = env_int("SPOOL_REQUEST_THREADS", 16)
if SPOOL_REQUEST_THREADS < 1:
    raise ImproperlyConfigured("SPOOL_REQUEST_THREADS must be at least 1.")

# Run budgets (enforced by streaming/runs/run.py): none may be exceeded silently.
SPOOL_IDLE_TIMEOUT_S = env_float("SPOOL_IDLE_TIMEOUT_S", 30.0)
SPOOL_RUN_WALL_CLOCK_S = env_float("SPOOL_RUN_WALL_CLOCK_S", 600.0)
SPOOL_MAX_OUTPUT_TOKENS = int(os.environ.get("SPOOL_MAX_OUTPUT_TOKENS", "4096"))
_grace = os.environ.get("SPOOL_DETACH_GRACE_S", "30").strip().lower()
SPOOL_DETACH_GRACE_S: float | None = None if _grace == "none" else float(_grace)
# On SIGTERM live answers may finish for this long before the rest are saved
# interrupted (chatapp/shutdown.py). A process manager's stop timeout must
# exceed it (docs/operations.md), or it kills the process before the saves.
SPOOL_SHUTDOWN_GRACE_S = env_float("SPOOL_SHUTDOWN_GRACE_S", 10.0)
if SPOOL_SHUTDOWN_GRACE_S < 0:
    raise ImproperlyConfigured("SPOOL_SHUTDOWN_GRACE_S must be a number of seconds, 0 or more.")

# streaming/ stays ignorant of chat models: it reaches the database only
# through this object (see chatapp/run_store.py).
SPOOL_RUN_STORE = "chatapp.run_store.DjangoRunStore"

# Attachments (chatapp/attachments/, docs/operations.md, Attachments).
# Stored through Django's default storage: files under SPOOL_VAR_DIR/uploads,
# never served by a web server (no MEDIA_URL route): only the owner-checking
# view reads them. SPOOL_S3_BUCKET switches to an S3-compatible bucket through
# django-storages, which must then be installed (`pip install django-storages[s3]`).
MEDIA_ROOT = Path(os.environ.get("SPOOL_MEDIA_ROOT", "") or VAR_DIR / "uploads")
SPOOL_S3_BUCKET = os.environ.get("SPOOL_S3_BUCKET", "")
if SPOOL_S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": SPOOL_S3_BUCKET,
            "endpoint_url": os.environ.get("SPOOL_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("SPOOL_S3_REGION") or None,
            # Private objects; the app streams them to their owner itself.
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
# Per file, in MB, checked while the upload is received (before any storage write).
SPOOL_MAX_UPLOAD_MB = env_float("SPOOL_MAX_UPLOAD_MB", 10.0)
if SPOOL_MAX_UPLOAD_MB <= 0:
    raise ImproperlyConfigured("SPOOL_MAX_UPLOAD_MB must be a number of megabytes above 0.")
# Files per message: enough for a few screenshots and a document, few enough
# that one prompt stays readable and cheap.
SPOOL_MAX_ATTACHMENTS = env_int("SPOOL_MAX_ATTACHMENTS", 5)
# Models given images besides those whose endpoint says `vision` ("*": all).
SPOOL_LLM_VISION_MODELS = env_list("SPOOL_LLM_VISION_MODELS", "")
# The caps are checked first, then the file is held in memory (small) or in a
# temporary file (large) until it is validated, re-encoded and stored.
FILE_UPLOAD_HANDLERS = [
    "chatapp.attachments.upload.AttachmentUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
