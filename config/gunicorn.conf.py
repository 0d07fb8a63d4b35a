"""gunicorn settings for Qingling: ``gunicorn -c config/gunicorn.conf.py 'server:create_app()'``.

Every value can be changed through the environment (the QINGLING_ prefix
like the app's own settings); the defaults suit one machine on SQLite.
"""

import multiprocessing
import os


def _env(name: str, default):
    value = os.environ.get(f"QINGLING_{name}")
    return type(default)(value) if value is not None else default


_postgres = os.environ.get("QINGLING_DATABASE_URL", "").startswith(("postgres://", "postgresql"))

bind = _env("BIND", "127.0.0.1:8000")
# SQLite has one writer at a time: two workers keep the CPUs busy without queueing on its lock. On
# PostgreSQL, the usual 2 x cores + 1 (each worker holds DATABASE_POOL_SIZE connections at most).
workers = _env("WEB_WORKERS", 2 * multiprocessing.cpu_count() + 1 if _postgres else 2)
worker_class = "sync"
# A 25 MiB photo over a slow mobile link: the proxy in front buffers bodies, so a worker is busy only
# while it checks, hashes and renders; 120 s covers a HEIC render on a loaded machine.
timeout = _env("WEB_TIMEOUT", 120)
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow without bound (jitter: not all at once).
max_requests = _env("WEB_MAX_REQUESTS", 5000)
max_requests_jitter = 500
limit_request_line = 8190
limit_request_fields = 100
# The app sets X-Request-ID and logs one JSON line per request (logger qingling.request).
accesslog = None
errorlog = "-"
loglevel = "info"
# Trust X-Forwarded-* only from the proxy in front (its address, comma separated).
forwarded_allow_ips = _env("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The scheduler runs as its own process (`flask --app server scheduler run`), never inside workers.
raw_env = ["QINGLING_SCHEDULER_EMBEDDED=false"]
