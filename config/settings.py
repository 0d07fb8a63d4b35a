"""Settings: defaults in classes, overridden by ``QINGLING_``-prefixed environment variables."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "config" / "rules"


class Config:
    """Defaults shared by every environment."""

    SECRET_KEY: str | None = None
    DATABASE_URL = f"sqlite:///{ROOT / 'instance' / 'qingling.db'}"
    DATABASE_POOL_SIZE = 5
    REQUEST_LOG = True  # one JSON line per request on the "qingling.request" logger
    PHOTO_ROOT = str(ROOT / "instance" / "photos")  # uploads in progress; the store too when PHOTO_STORAGE is local
    PHOTO_STORAGE = "local"  # or "s3": an S3-compatible object store (settings S3_*)
    S3_BUCKET: str | None = None
    S3_PREFIX = ""
    S3_ENDPOINT_URL: str | None = None  # e.g. http://minio.internal:9000; None for AWS
    S3_REGION: str | None = None
    S3_ACCESS_KEY_ID: str | None = None  # or the usual AWS_* variables / instance role
    S3_SECRET_ACCESS_KEY: str | None = None
    PHOTO_MAX_BYTES = 25 * 1024 * 1024
    PHOTO_MAX_PIXELS = 100_000_000
    PHOTO_DISPLAY_PX = 1600
    PHOTO_THUMBNAIL_PX = 320
    # Bodies other than photo uploads: JSON documents are small.
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    TOKEN_TTL_DAYS = 30
    TIMEZONE = "Asia/Shanghai"
    RULES_DIR = str(RULES_DIR)
    # Flags on inspections and photos (warnings, never refusals).
    FLAG_LOCATION_FAR_M = 200.0
    FLAG_LOW_ACCURACY_M = 100.0
    FLAG_PHOTO_FAR_M = 200.0
    FLAG_PHOTO_AGE_HOURS = 24.0
    # Default rectification deadlines in days by severity; a checklist item may override.
    DEADLINE_DAYS = {"general": 15, "major": 60}
    # Consecutive visits with nobody home before the duty leader is told.
    NO_ACCESS_ESCALATE_AFTER = 3
    # The unit that supervises listed major hazards (挂牌督办).
    SUPERVISING_UNIT = "银川市住房和城乡建设局"
    # Credit (docs/credit.md): days past a hazard's deadline before the overdue rule is proposed;
    # whether a hazard fixed on the spot proposes its item's credit rule; how far back the daily sweep
    # looks for hazards closed after deadline + grace.
    CREDIT_OVERDUE_GRACE_DAYS = 7
    CREDIT_PROPOSE_FIXED_ON_SPOT = False
    CREDIT_LATE_CLOSE_LOOKBACK_DAYS = 7
    CREDIT_CASE_PENALTY_RULE = "SC-04"  # proposed when a case decides a penalty against an enterprise; "" for none
    # Cases transferred to enforcement (移交违法案件): numbers are PREFIX〔YYYY〕N号, N counted per year.
    CASE_NUMBER_PREFIX = "银建罚移"
    CASE_BUREAU = "银川市住房和城乡建设局"  # signs the transfer letter
    CASE_RECEIVING_AGENCY = "银川市综合行政执法局"  # the default receiving agency of a transfer
    CASE_DECISION_DAYS = 90  # 行政处罚法 第六十条: a decision within 90 days of filing
    CASE_WARN_DAYS = [30, 15, 7, 0]  # officers are warned when this many days (or fewer) are left
    CASE_DOSSIER_ROOT = str(ROOT / "instance" / "dossiers")
    CASE_PDF_FONT: str | None = None  # a CJK TrueType font (.ttf/.ttc); None: look in the usual system places
    # The scheduler: its own process (`flask scheduler run`) or inside the dev server (`make run`).
    SCHEDULER_EMBEDDED = False
    DIGEST_MAX_ITEMS = 20
    # Notifications: the outbox is delivered through these senders ("log", "smtp", "webhook").
    NOTIFY_SENDERS = ["log"]
    NOTIFY_MAX_ATTEMPTS = 10
    NOTIFY_BATCH = 100
    NOTIFY_TIMEOUT = 10
    NOTIFY_SMTP_HOST: str | None = None
    NOTIFY_SMTP_PORT = 25
    NOTIFY_SMTP_USER: str | None = None
    NOTIFY_SMTP_PASSWORD: str | None = None
    NOTIFY_SMTP_FROM = "qingling@localhost"
    NOTIFY_SMTP_SECURITY = "none"
    NOTIFY_EMAILS: dict[str, str] = {}
    NOTIFY_WEBHOOK_URL: str | None = None
    LOGIN_MAX_FAILURES = 10
    LOGIN_WINDOW_MINUTES = 15
    PAGE_LIMIT_DEFAULT = 50
    PAGE_LIMIT_MAX = 500
    # OpenAPI (flask-smorest); the interactive page is served from this server.
    API_TITLE = "Qingling field app API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "docs"
    OPENAPI_SWAGGER_UI_URL = "/api/v1/swagger-ui/"
    JSON_AS_ASCII = False
    # The web console (/console, docs/console.md): session cookie, languages, page sizes, exports.
    CONSOLE_SECURE_COOKIE = True  # the session cookie is sent over HTTPS only; False for plain-http development
    CONSOLE_SESSION_HOURS = 12  # a signed-in console session lasts this long
    CONSOLE_DEFAULT_LOCALE = "zh_CN"  # Simplified Chinese; "en" is offered by the language switch
    CONSOLE_PAGE_SIZE = 50
    CONSOLE_EXPORT_MAX_ROWS = 200_000  # one CSV/XLSX export holds at most this many rows
    CONSOLE_MAP_MAX_POINTS = 3000  # points a map layer sends at most (the newest first)
    CONSOLE_TREND_WEEKS = 12
    # The dashboard shows the newest snapshot of its figures, made every 5 minutes by the scheduler (the city's
    # sums take seconds); with none younger than this, the page computes one. 0: computed at every page, never kept.
    CONSOLE_DASHBOARD_MAX_AGE_MINUTES = 30
    # The map's tile layer. None: no tiles; points and district outlines are still drawn. Tianditu, e.g.
    # "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vec&STYLE=default
    # &TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=<key>"; or the bureau's own server.
    TILE_URL: str | None = None
    TILE_SUBDOMAINS = "01234567"
    TILE_CRS = "wgs84"  # what the tiles are drawn in: wgs84 (Tianditu's CGCS2000 alike) or gcj02 (Amap, many bureau servers)
    TILE_ATTRIBUTION = ""
    TILE_MAX_ZOOM = 18


class DevelopmentConfig(Config):
    """Local development with ``make run``."""

    SECRET_KEY = "dev-only-not-secret"
    CONSOLE_SECURE_COOKIE = False  # http://127.0.0.1:5000


class TestingConfig(Config):
    """The test suite: everything else comes from the fixtures."""

    TESTING = True
    SECRET_KEY = "test-only-not-secret"
    CONSOLE_SECURE_COOKIE = False  # the live server of the browser tests speaks plain http
    CONSOLE_DASHBOARD_MAX_AGE_MINUTES = 0  # a test sees its own changes at once


class ProductionConfig(Config):
    """Production: refuses to start without its secrets."""

    REQUIRED = ("SECRET_KEY", "DATABASE_URL")
    DATABASE_URL = None


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
