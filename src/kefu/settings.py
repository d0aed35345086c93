"""The one settings module of kefu, configured by environment variables (KEFU_*).

Embedded default: SQLite file under KEFU_DATA_DIR, in-process channel layer, database task
queue. Setting KEFU_DATABASE_URL and KEFU_REDIS_URL moves kefu to PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(f"KEFU_{name}", default)


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if not value:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG")
TESTING = "pytest" in sys.modules
DEMO = env_bool("DEMO")

INSECURE_DEFAULT_KEY = "kefu-insecure-default-key-change-me"
SECRET_KEY = env("SECRET_KEY", INSECURE_DEFAULT_KEY)
if SECRET_KEY == INSECURE_DEFAULT_KEY and not (DEBUG or DEMO or TESTING):
    raise ImproperlyConfigured(
        "KEFU_SECRET_KEY is not set. Production settings refuse the default secret key: "
        "set KEFU_SECRET_KEY to a long random value (or KEFU_DEBUG=1 / `kefu demo` to try kefu)."
    )

DATA_DIR = Path(env("DATA_DIR", str(Path.cwd() / "var"))).resolve()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "kefu.core",
    "kefu.customers",
    "kefu.staff",
    "kefu.conversations",
    "kefu.mail",
    "kefu.livechat",
    "kefu.service",
    "kefu.kb",
    "kefu.analytics",
    "kefu.care",
    "kefu.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "kefu.core.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "kefu.core.middleware.AgentPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "kefu.urls"
ASGI_APPLICATION = "kefu.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["kefu.core.templatetags.kefu"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
            ],
        },
    },
]

_default_db = f"sqlite:///{DATA_DIR / 'kefu.sqlite3'}"
DATABASES = {
    # Connections are kept (and health-checked) rather than opened for every request or
    # websocket frame: opening SQLite (with its PRAGMAs) cost more than a chat line's writes.
    "default": dj_database_url.parse(
        env("DATABASE_URL", _default_db), conn_max_age=600, conn_health_checks=True
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the web process read while the worker writes; a busy timeout instead of
    # "database is locked" errors under concurrent writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # PostgreSQL: a pool per process (psycopg_pool), as Django advises under ASGI, where every
    # HTTP request runs in a thread of its own and a kept connection would outlive it, open
    # until Python's garbage collector finds it. A connection goes back to the pool at the end
    # of each request (and of each database call of a socket); a process never holds more
    # than KEFU_DB_POOL_SIZE, and one that waits longer than 10 s for one gets an error.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": int(env("DB_POOL_SIZE", "10")),
        "timeout": 10,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "kefu.core.layers.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env("REDIS_PREFIX", "kefu")},
        }
    }
    CACHES: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("REDIS_PREFIX", "kefu"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "kefu.core.layers.InMemoryChannelLayer"}}
    # The per-process cache holds the closed months' sums (analytics/closed.py): the standard
    # reports alone are about 600 entries (6.5 MB at 1M conversations), over the default 300,
    # past which a third of the entries are dropped at each set.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 5000},
        }
    }

TASKS = {
    "default": {
        "BACKEND": (
            "django_tasks.backends.immediate.ImmediateBackend"
            if TESTING
            else "django_tasks_db.DatabaseBackend"
        ),
        "QUEUES": ["default"],
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = env("LANGUAGE", "zh-hans")
LANGUAGES = [
    ("zh-hans", _("Simplified Chinese")),
    ("zh-hant", _("Traditional Chinese")),
    ("en", _("English")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env("TIME_ZONE", "Asia/Shanghai")

STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(DATA_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG or DEMO
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(DATA_DIR / "media")))

# Uploads: size-limited; attachments are served as downloads, never inline HTML.
KEFU_MAX_ATTACHMENT_BYTES = int(env("MAX_ATTACHMENT_BYTES", str(10 * 1024 * 1024)))
# A customer's reply reopens a solved conversation within this many days; later it opens a
# follow-up (and the hourly job closes solved conversations this old).
KEFU_REOPEN_DAYS = int(env("REOPEN_DAYS", "7"))
KEFU_CHAT_MAX_UPLOAD_BYTES = int(env("CHAT_MAX_UPLOAD_BYTES", str(5 * 1024 * 1024)))
# Email larger than this is stored whole but read only as far as its headers.
KEFU_MAX_PARSE_BYTES = int(env("MAX_PARSE_BYTES", str(25 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not (DEBUG or DEMO or TESTING):
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)

# Login throttling: attempts per (client address, username) within the window.
KEFU_LOGIN_RATE = (int(env("LOGIN_ATTEMPTS", "10")), int(env("LOGIN_WINDOW_SECONDS", "300")))

# Outgoing mail: KEFU_SMTP_URL (see kefu/mail/smtp_url.py), e.g.
# smtp://user:password@smtp.example.com:587?security=starttls. Without it mail is printed to
# the console; tests always keep it in memory. The URL holds a password, so it is parsed here
# and not kept as a setting (Django's error pages only mask settings named like secrets).
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_TIMEOUT: float | None = 30.0
if env("SMTP_URL"):
    from kefu.mail.smtp_url import parse_smtp_url

    _smtp = parse_smtp_url(env("SMTP_URL"))
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST, EMAIL_PORT = _smtp.host, _smtp.port
    EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _smtp.user, _smtp.password
    EMAIL_USE_TLS, EMAIL_USE_SSL = _smtp.security == "starttls", _smtp.security == "ssl"
    EMAIL_TIMEOUT = _smtp.timeout
    del _smtp
if TESTING:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DEFAULT_FROM_EMAIL = env("FROM_EMAIL", "kefu@localhost")
# The SMTP listener refuses bigger messages (the sender's server tells the sender).
KEFU_MAX_EMAIL_BYTES = int(env("MAX_EMAIL_BYTES", str(40 * 1024 * 1024)))

KEFU_BASE_URL = env("BASE_URL", "http://127.0.0.1:8000")

# Automation rules' webhooks: seconds to wait for an answer; private and local addresses
# (127.0.0.1, 10.x, 192.168.x, link-local…) are refused unless this says otherwise.
KEFU_WEBHOOK_TIMEOUT = float(env("WEBHOOK_TIMEOUT", "10"))
KEFU_WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
