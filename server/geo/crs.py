"""Convert between WGS-84, GCJ-02 and BD-09 and measure distances.

Positions are stored as WGS-84 (what GPS receivers, browsers and
``wx.getLocation(type='wgs84')`` give). Chinese map providers use shifted
systems: GCJ-02 (Amap, Tencent, WeChat maps) and BD-09 (Baidu, which applies a
second shift on top of GCJ-02). Tianditu uses CGCS2000, which needs no shift at
the precision we care about. See research.md §9.

Every function takes and returns ``(lat, lon)`` in decimal degrees.

GCJ-02 is an obfuscation, not a datum: the forward formula below is the
publicly documented one (Krasovsky 1940 ellipsoid constants). It defines no
shift outside a rough bounding box of China, so points outside it are returned
unchanged. The inverse has no closed form; it is solved by fixed-point
iteration to well under 1e-7 degrees (about 1 cm).
"""

from __future__ import annotations

import math

from geopy.distance import geodesic

CRS = ("wgs84", "gcj02", "bd09")

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 formula.
_A = 6378245.0
_EE = 0.00669342162296594323

# Baidu's extra rotation/scale uses this angular factor.
_X_PI = math.pi * 3000.0 / 180.0

# The box inside which the GCJ-02 shift applies (degrees).
_CHINA_LON = (73.66, 135.05)
_CHINA_LAT = (3.86, 53.55)

# Inverse iterations stop when a step is below this (degrees, ~1 mm).
_TOLERANCE = 1e-10
_MAX_ITERATIONS = 50


def _check(lat: float, lon: float) -> tuple[float, float]:
    """Return the position as floats, refusing values that are not a position."""
    try:
        lat_f, lon_f = float(lat), float(lon)
    except (TypeError, ValueError):
        raise ValueError(f"position must be numbers, got ({lat!r}, {lon!r})") from None
    if not (math.isfinite(lat_f) and math.isfinite(lon_f)):
        raise ValueError(f"position must be finite, got ({lat!r}, {lon!r})")
    if not -90.0 <= lat_f <= 90.0:
        raise ValueError(f"latitude {lat_f} is outside -90..90")
    if not -180.0 <= lon_f <= 180.0:
        raise ValueError(f"longitude {lon_f} is outside -180..180")
    return lat_f, lon_f


def in_china_box(lat: float, lon: float) -> bool:
    """Tell whether the GCJ-02 shift applies to this position."""
    return _CHINA_LON[0] < lon < _CHINA_LON[1] and _CHINA_LAT[0] < lat < _CHINA_LAT[1]


def _shift_lat(x: float, y: float) -> float:
    """Latitude part of the GCJ-02 shift, in metre-like units, for x=lon-105, y=lat-35."""
    s = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    s += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    s += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    s += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return s


def _shift_lon(x: float, y: float) -> float:
    """Longitude part of the GCJ-02 shift, in metre-like units, for x=lon-105, y=lat-35."""
    s = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    s += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    s += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    s += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return s


def _gcj_offset(lat: float, lon: float) -> tuple[float, float]:
    """Return the GCJ-02 shift (dlat, dlon) in degrees at a WGS-84 position."""
    if not in_china_box(lat, lon):
        return 0.0, 0.0
    dlat = _shift_lat(lon - 105.0, lat - 35.0)
    dlon = _shift_lon(lon - 105.0, lat - 35.0)
    rad_lat = lat / 180.0 * math.pi
    magic = math.sin(rad_lat)
    magic = 1 - _EE * magic * magic
    sqrt_magic = math.sqrt(magic)
    # Convert the metre-like shift to degrees on the Krasovsky ellipsoid:
    # meridian radius of curvature for latitude, parallel radius for longitude.
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return dlat, dlon


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """Convert a WGS-84 position to GCJ-02 (identity outside China's box)."""
    lat, lon = _check(lat, lon)
    dlat, dlon = _gcj_offset(lat, lon)
    return lat + dlat, lon + dlon


def _invert(forward, lat: float, lon: float, start: tuple[float, float]) -> tuple[float, float]:
    """Solve forward(x) = (lat, lon) by fixed-point steps x -> x - (forward(x) - target).

    Both shifts vary slowly (their derivatives are tiny), so the map is a
    strong contraction and a few steps reach the tolerance.
    """
    x_lat, x_lon = start
    for _ in range(_MAX_ITERATIONS):
        f_lat, f_lon = forward(x_lat, x_lon)
        step_lat, step_lon = f_lat - lat, f_lon - lon
        x_lat, x_lon = x_lat - step_lat, x_lon - step_lon
        if abs(step_lat) < _TOLERANCE and abs(step_lon) < _TOLERANCE:
            break
    return x_lat, x_lon


def gcj02_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """Convert a GCJ-02 position to WGS-84 by iterating the forward formula."""
    lat, lon = _check(lat, lon)
    return _invert(wgs84_to_gcj02, lat, lon, (lat, lon))


def gcj02_to_bd09(lat: float, lon: float) -> tuple[float, float]:
    """Convert a GCJ-02 position to BD-09."""
    lat, lon = _check(lat, lon)
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def _bd09_to_gcj02_closed(lat: float, lon: float) -> tuple[float, float]:
    """Return the usual closed-form approximate inverse of gcj02_to_bd09."""
    x, y = lon - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.sin(theta), z * math.cos(theta)


def bd09_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """Convert a BD-09 position to GCJ-02, refined so that the round trip is exact."""
    lat, lon = _check(lat, lon)
    # The closed form is off by up to ~1e-6 degrees; refining it on the
    # forward formula brings the round trip below 1e-10 degrees.
    return _invert(gcj02_to_bd09, lat, lon, _bd09_to_gcj02_closed(lat, lon))


def _normalise_crs(crs: str) -> str:
    """Return the canonical name of a coordinate system, or raise ValueError."""
    name = crs.strip().lower() if isinstance(crs, str) else crs
    if name not in CRS:
        raise ValueError(f"unknown coordinate system {crs!r}; expected one of {', '.join(CRS)}")
    return name


def to_wgs84(lat: float, lon: float, crs: str) -> tuple[float, float]:
    """Convert a position given in ``crs`` to WGS-84 for storage."""
    name = _normalise_crs(crs)
    lat, lon = _check(lat, lon)
    if name == "wgs84" or not in_china_box(lat, lon):
        # Outside China providers serve WGS-84, and the formula defines no shift.
        return lat, lon
    if name == "bd09":
        lat, lon = bd09_to_gcj02(lat, lon)
    return gcj02_to_wgs84(lat, lon)


def from_wgs84(lat: float, lon: float, crs: str) -> tuple[float, float]:
    """Convert a stored WGS-84 position to ``crs`` for display on that tile layer."""
    name = _normalise_crs(crs)
    lat, lon = _check(lat, lon)
    if name == "wgs84" or not in_china_box(lat, lon):
        return lat, lon
    lat, lon = wgs84_to_gcj02(lat, lon)
    if name == "bd09":
        lat, lon = gcj02_to_bd09(lat, lon)
    return lat, lon


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the geodesic distance in metres between two WGS-84 (lat, lon) positions."""
    return geodesic(_check(*a), _check(*b)).meters
