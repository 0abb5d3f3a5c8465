"""Drives a real Django (installed by the Rust tests) against a database, so
the tests can check that Django and the Rust store share sessions.

Usage: django_helper.py migrate | write JSON | write-shared JSON KEY... |
       update KEY JSON | read KEY | delete KEY | exists KEY | authhash PASSWORD
Environment: DJANGO_DB (sqlite:PATH or postgres://user@host:port/name),
DJANGO_SECRET, DJANGO_FALLBACKS (comma-separated), DJANGO_SESSION_ENGINE
(db, the default, or cache), DJANGO_REDIS (the cache's redis:// URL), and
DJANGO_KEY_PREFIX and DJANGO_CACHE_VERSION (the cache's KEY_PREFIX and
VERSION).
"""
import json
import os
import sys
from urllib.parse import urlparse

import django
from django.conf import settings

db = os.environ["DJANGO_DB"]
if db.startswith("sqlite:"):
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": db[len("sqlite:"):]}
else:
    url = urlparse(db)
    database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": url.path.lstrip("/"),
        "USER": url.username or "",
        "PASSWORD": url.password or "",
        "HOST": url.hostname or "",
        "PORT": str(url.port or 5432),
    }
engine = os.environ.get("DJANGO_SESSION_ENGINE", "db")
caches = {}
if os.environ.get("DJANGO_REDIS"):
    caches = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["DJANGO_REDIS"],
        "KEY_PREFIX": os.environ.get("DJANGO_KEY_PREFIX", ""),
        "VERSION": int(os.environ.get("DJANGO_CACHE_VERSION", "1")),
    }}
settings.configure(
    CACHES=caches or {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    SESSION_ENGINE=f"django.contrib.sessions.backends.{engine}",
    SECRET_KEY=os.environ["DJANGO_SECRET"],
    SECRET_KEY_FALLBACKS=[s for s in os.environ.get("DJANGO_FALLBACKS", "").split(",") if s],
    DATABASES={"default": database},
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"],
    USE_TZ=True,
)
django.setup()

from importlib import import_module  # noqa: E402

SessionStore = import_module(settings.SESSION_ENGINE).SessionStore
from django.core.management import call_command  # noqa: E402

command, args = sys.argv[1], sys.argv[2:]
if command == "migrate":
    call_command("migrate", "sessions", verbosity=0)
elif command == "write":
    session = SessionStore()
    session.update(json.loads(args[0]))
    session.save()
    print(session.session_key)
elif command == "write-shared":
    # One object under several keys: pickled once, then referred to.
    session, shared = SessionStore(), json.loads(args[0])
    for key in args[1:]:
        session[key] = shared
    session.save()
    print(session.session_key)
elif command == "update":
    session = SessionStore(session_key=args[0])
    session.update(json.loads(args[1]))
    session.save()
elif command == "read":
    print(json.dumps(dict(SessionStore(session_key=args[0]).items())))
elif command == "delete":
    SessionStore(session_key=args[0]).delete()
elif command == "authhash":
    from django.utils.crypto import salted_hmac

    print(salted_hmac("django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash", args[0], algorithm="sha256").hexdigest())
elif command == "exists":
    print(json.dumps(SessionStore().exists(args[0])))
else:
    sys.exit(f"unknown command {command}")
