"""Django settings: everything comes from himitsu.config (environment and HIMITSU_HOME)."""

from __future__ import annotations

import os
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from himitsu import config

BASE_DIR = Path(__file__).resolve().parent
HOME = config.home()

SECRET_KEY = config.secret_key()
DEBUG = os.environ.get("HIMITSU_DEBUG", "") == "1"
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("HIMITSU_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")]
ALLOWED_HOSTS = [h for h in ALLOWED_HOSTS if h]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("HIMITSU_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "ninja",
    "himitsu.web.core",
    "himitsu.web.accounts",
    "himitsu.web.audit",
    "himitsu.web.register",
    "himitsu.web.pledges",
    "himitsu.web.notices",
    "himitsu.web.workflows",
    "himitsu.web.training",
    "himitsu.web.grants",
    "himitsu.web.scans",
    "himitsu.web.guard",
    "himitsu.web.insider",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "himitsu.web.core.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "himitsu.web.guard.middleware.TokenMiddleware",  # Bearer tokens of the check API (before login is required)
    "himitsu.web.core.middleware.LoginRequiredMiddleware",
    "himitsu.web.core.errors.TypedErrorMiddleware",
    "himitsu.web.core.middleware.FreshAssessmentsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "himitsu.web.urls"
WSGI_APPLICATION = "himitsu.web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "himitsu.web.core.context.himitsu",
            ],
        },
    },
]

_db = config.database()
if _db.is_sqlite:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _db.name,
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            },
            "TEST": {"NAME": os.environ.get("HIMITSU_TEST_SQLITE_NAME") or None},
            # Each server thread keeps its connection (opening one runs the PRAGMAs, closing one checkpoints
            # the WAL: ~0.8 ms a request otherwise, a fifth of a check API call).
            "CONN_MAX_AGE": 600,
            "CONN_HEALTH_CHECKS": True,
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _db.name,
            "USER": _db.user,
            "PASSWORD": _db.password,
            "HOST": _db.host,
            "PORT": _db.port,
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["himitsu.web.accounts.backends.HimitsuBackend"]  # refuses people past their leaving date

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 8 * 3600
SESSION_COOKIE_SECURE = os.environ.get("HIMITSU_SECURE_COOKIES", "") == "1"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR.parent / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Tokyo"
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = HOME / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Outgoing e-mail: see himitsu.config.mail(); without HIMITSU_SMTP_HOST notices stay in the app.
MAIL = config.mail()
# The address people reach the app at, for links in e-mails (HIMITSU_BASE_URL).
HIMITSU_BASE_URL = os.environ.get("HIMITSU_BASE_URL", "http://127.0.0.1:8000")
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.dummy.EmailBackend"}}
if MAIL is not None:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": {
        "host": MAIL.host, "port": MAIL.port, "username": MAIL.user, "password": MAIL.password,
        "use_tls": MAIL.security == "starttls", "use_ssl": MAIL.security == "ssl", "timeout": 10}}}
    DEFAULT_FROM_EMAIL = MAIL.sender

# Declared limits of uploads (register import); larger uploads are refused with a message.
HIMITSU_IMPORT_MAX_BYTES = int(os.environ.get("HIMITSU_IMPORT_MAX_BYTES", str(10 * 1024 * 1024)))
HIMITSU_IMPORT_MAX_ROWS = int(os.environ.get("HIMITSU_IMPORT_MAX_ROWS", "10000"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000
# The largest request body the server takes at all (413 ``request.too_large`` above it, before the app reads it);
# the limits of each form and API (above and below) are lower.
HIMITSU_MAX_REQUEST_BYTES = int(os.environ.get("HIMITSU_MAX_REQUEST_BYTES", str(1024 * 1024 * 1024)))

# The outbound guard's check API (issue 6): the largest request body (413 above it), and the requests per second
# per API token (or logged-in user) with the burst allowed above that rate (429 with Retry-After).
HIMITSU_GUARD_MAX_BYTES = int(os.environ.get("HIMITSU_GUARD_MAX_BYTES", str(10 * 1024 * 1024)))
HIMITSU_GUARD_RATE = float(os.environ.get("HIMITSU_GUARD_RATE", "20"))
HIMITSU_GUARD_BURST = int(os.environ.get("HIMITSU_GUARD_BURST", "40"))
# Where a reviewer's release of held mail goes (the organisation's real mail server, host:port) and whether
# STARTTLS is required, used when offered, or off (HIMITSU_MAIL_NEXT_HOP_STARTTLS: required, opportunistic, off).
HIMITSU_MAIL_NEXT_HOP = os.environ.get("HIMITSU_MAIL_NEXT_HOP", "127.0.0.1:25")
HIMITSU_MAIL_NEXT_HOP_STARTTLS = os.environ.get("HIMITSU_MAIL_NEXT_HOP_STARTTLS", "opportunistic")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("HIMITSU_LOG_LEVEL", "WARNING")},
}
