"""Coordinate conversions between WGS-84, GCJ-02 and BD-09 (research.md §9)."""

import math

import pytest

from server.geo import crs

YINCHUAN = (38.4872, 106.2309)  # 银川, WGS-84
GUYUAN = (36.0159, 106.2426)  # 固原
BEIJING = (39.990475, 116.481499)  # the Amap example point


def test_public_vector_coord_convert_exact():
    """WGS-84 (lon 120, lat 40) gives coord-convert's published GCJ-02 value to 1e-12."""
    lat, lon = crs.wgs84_to_gcj02(40.0, 120.0)
    assert lat == pytest.approx(40.0013047896019, abs=1e-12)
    assert lon == pytest.approx(120.00567568355486, abs=1e-12)


def test_public_vector_amap_convert_api():
    """The Amap convert API example (gps → autonavi) is matched within 5e-7 degrees."""
    lat, lon = crs.wgs84_to_gcj02(*BEIJING)
    assert lat == pytest.approx(39.991754014757, abs=5e-7)
    assert lon == pytest.approx(116.487585177952, abs=5e-7)


def test_public_vector_wgs84_to_bd09():
    """WGS-84 → BD-09 of the Amap example point matches MapCoords within 2e-6 degrees."""
    lat, lon = crs.from_wgs84(*BEIJING, "bd09")
    assert lat == pytest.approx(39.997716, abs=2e-6)
    assert lon == pytest.approx(116.49412, abs=2e-6)


@pytest.mark.parametrize("point", [YINCHUAN, GUYUAN, BEIJING, (22.5431, 114.0579), (45.8038, 126.5350)])
def test_gcj02_inverse_round_trip(point):
    """GCJ-02 → WGS-84 recovers the original WGS-84 point within 1e-7 degrees."""
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(*point))
    assert back[0] == pytest.approx(point[0], abs=1e-7)
    assert back[1] == pytest.approx(point[1], abs=1e-7)


@pytest.mark.parametrize("point", [YINCHUAN, BEIJING])
def test_bd09_round_trip(point):
    """BD-09 → GCJ-02 inverts GCJ-02 → BD-09 within 1e-7 degrees."""
    gcj = crs.wgs84_to_gcj02(*point)
    back = crs.bd09_to_gcj02(*crs.gcj02_to_bd09(*gcj))
    assert back == pytest.approx(gcj, abs=1e-7)


@pytest.mark.parametrize("name", ["gcj02", "bd09", "wgs84"])
def test_to_wgs84_inverts_from_wgs84(name):
    """Converting for display and back for storage returns the stored point."""
    shown = crs.from_wgs84(*YINCHUAN, name)
    assert crs.to_wgs84(*shown, name) == pytest.approx(YINCHUAN, abs=1e-7)


def test_yinchuan_offset_is_about_386_metres():
    """The GCJ-02 shift in 银川 is about 386 m, enough to put a marker on the wrong street."""
    shift = crs.distance_m(YINCHUAN, crs.wgs84_to_gcj02(*YINCHUAN))
    assert 350 <= shift <= 420


def test_wgs84_is_identity():
    """to_wgs84 and from_wgs84 leave WGS-84 positions alone."""
    assert crs.to_wgs84(*YINCHUAN, "wgs84") == YINCHUAN
    assert crs.from_wgs84(*YINCHUAN, "wgs84") == YINCHUAN


@pytest.mark.parametrize("name", ["gcj02", "bd09"])
def test_outside_china_unchanged(name):
    """A point outside China's box (Paris) is not shifted in either direction."""
    paris = (48.8566, 2.3522)
    assert crs.wgs84_to_gcj02(*paris) == paris
    assert crs.gcj02_to_wgs84(*paris) == paris
    assert crs.to_wgs84(*paris, name) == paris
    assert crs.from_wgs84(*paris, name) == paris


def test_crs_names_and_case():
    """The three system names are exported, and names are matched case-insensitively."""
    assert crs.CRS == ("wgs84", "gcj02", "bd09")
    assert crs.to_wgs84(*YINCHUAN, "GCJ02") == crs.to_wgs84(*YINCHUAN, "gcj02")


def test_unknown_crs_rejected():
    """An unknown coordinate system name raises ValueError."""
    with pytest.raises(ValueError, match="unknown coordinate system"):
        crs.to_wgs84(*YINCHUAN, "epsg:3857")


@pytest.mark.parametrize("bad", [(91.0, 106.0), (38.0, 181.0), (math.nan, 106.0), ("x", 106.0), (None, 1.0)])
def test_invalid_positions_rejected(bad):
    """Out-of-range, non-finite or non-numeric coordinates raise ValueError."""
    with pytest.raises(ValueError):
        crs.wgs84_to_gcj02(*bad)


def test_distance_geodesic():
    """distance_m is the geodesic distance: zero for one point, ~111 km per degree of latitude."""
    assert crs.distance_m(YINCHUAN, YINCHUAN) == 0.0
    one_degree = crs.distance_m((38.0, 106.0), (39.0, 106.0))
    assert one_degree == pytest.approx(111_050, abs=150)
