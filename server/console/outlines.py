"""Schematic district outlines for the map's no-tile mode (and as an overlay on tiles).

These are NOT legal boundaries. Each county-level district of Ningxia is drawn
as the Voronoi cell of its seat (the points nearer to that seat than to any
other), clipped to a coarse hand-drawn outline of the region: enough to tell
districts apart and place points when no tile server is reachable, with no
licensed boundary data in the repository. Seats are approximate WGS-84
positions of the county towns; the outline follows the region's extent
(35.2°–39.4° N, 104.3°–107.6° E) with about a dozen vertices.
"""

from __future__ import annotations

from functools import lru_cache

from server.geo import crs

# code -> (lat, lon) of the district's seat, WGS-84, approximate (±2 km).
SEATS = {
    "640104": (38.47, 106.29), "640105": (38.49, 106.13), "640106": (38.47, 106.22), "640121": (38.28, 106.25),
    "640122": (38.55, 106.35), "640181": (38.10, 106.34), "640202": (39.02, 106.38), "640205": (39.24, 106.78),
    "640221": (38.91, 106.52), "640302": (37.99, 106.20), "640303": (37.42, 106.06), "640323": (37.78, 107.41),
    "640324": (36.98, 105.91), "640381": (38.02, 106.08), "640402": (36.01, 106.28), "640422": (35.96, 105.73),
    "640423": (35.62, 106.12), "640424": (35.50, 106.33), "640425": (35.85, 106.64), "640502": (37.51, 105.19),
    "640521": (37.49, 105.68), "640522": (36.57, 105.64),
}

# A coarse outline of Ningxia, (lat, lon), counter-clockwise.
REGION = [
    (39.39, 106.60), (39.10, 106.95), (38.55, 106.95), (37.95, 107.65), (37.45, 107.30), (36.95, 106.95),
    (36.30, 106.95), (35.70, 106.90), (35.25, 106.45), (35.55, 105.80), (36.10, 105.55), (36.70, 105.25),
    (37.25, 104.30), (37.65, 104.55), (37.60, 105.40), (38.05, 105.85), (38.70, 105.95), (39.10, 106.20),
]


def _clip(polygon: list[tuple[float, float]], a: tuple[float, float], b: tuple[float, float]):
    """Keep the part of ``polygon`` nearer to ``a`` than to ``b`` (Sutherland–Hodgman against the bisector)."""
    # Distances in a plane where a degree of longitude counts cos(38°) ≈ 0.78 of a degree of latitude (0.61 squared).
    def side(p):  # > 0: nearer to a
        return ((b[0] - a[0]) * (p[0] - (a[0] + b[0]) / 2) + (b[1] - a[1]) * 0.61 * (p[1] - (a[1] + b[1]) / 2)) * -1

    result = []
    for i, current in enumerate(polygon):
        previous = polygon[i - 1]
        s_cur, s_prev = side(current), side(previous)
        if s_cur >= 0:
            if s_prev < 0:
                result.append(_cross(previous, current, s_prev, s_cur))
            result.append(current)
        elif s_prev >= 0:
            result.append(_cross(previous, current, s_prev, s_cur))
    return result


def _cross(p, q, sp, sq):
    t = sp / (sp - sq)
    return (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))


@lru_cache(maxsize=8)
def cells() -> dict[str, list[tuple[float, float]]]:
    """Return each district's schematic cell as a WGS-84 ring."""
    result = {}
    for code, seat in SEATS.items():
        polygon = list(REGION)
        for other_code, other in SEATS.items():
            if other_code != code and polygon:
                polygon = _clip(polygon, seat, other)
        result[code] = polygon
    return result


def geojson(*, names: dict[str, str], codes=None, tile_crs: str = "wgs84") -> dict:
    """Return the outlines as a GeoJSON FeatureCollection, positions converted to the tile layer's system."""
    features = []
    for code, ring in cells().items():
        if codes is not None and code not in codes:
            continue
        points = [crs.from_wgs84(lat, lon, tile_crs) for lat, lon in ring]
        coordinates = [[round(lon, 5), round(lat, 5)] for lat, lon in points]
        if coordinates:
            coordinates.append(coordinates[0])
        features.append({"type": "Feature", "properties": {"code": code, "name": names.get(code, code)},
                         "geometry": {"type": "Polygon", "coordinates": [coordinates]}})
    return {"type": "FeatureCollection", "features": features}
