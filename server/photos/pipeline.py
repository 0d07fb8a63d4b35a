"""Photo intake pipeline: receive an upload, recognise it, prove it decodes,
read its metadata and render JPEG renditions.

Everything here works on files on disk and knows nothing of Flask or of the
database. The only exception that leaves ``inspect`` and ``render`` because of
what the bytes contain is ``PhotoRejected``; its ``code`` is one of the error
codes of the field app API contract.

Supported: JPEG (MPO and Ultra HDR JPEGs included: their primary image is the
photo), PNG, WebP (still and animated) and HEIC/HEIF through pillow-heif.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import struct
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, TypeVar

import pillow_heif
from PIL import ExifTags, Image, UnidentifiedImageError

from server.photos.storage import temporary_prefix

# Registering twice is harmless, but this module is the one place that does it.
pillow_heif.register_heif_opener()

DEFAULT_MAX_PIXELS = 100_000_000

# Bytes read from the start of a file to recognise its type. Enough for the
# signatures below and for an ISO-BMFF "ftyp" box with many compatible brands.
HEAD_SIZE = 256

REJECTION_CODES = frozenset({"payload_too_large", "unsupported_media", "corrupt_image", "digest_mismatch"})

SUPPORTED_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")

# Pillow decoders allowed for each sniffed type: a file is decoded by the
# decoder of the type its magic bytes claim, never by whichever plugin
# happens to accept it.
_PILLOW_FORMATS: dict[str, tuple[str, ...]] = {
    "image/jpeg": ("JPEG",),
    "image/png": ("PNG",),
    "image/webp": ("WEBP",),
    "image/heic": ("HEIF",),
    "image/heif": ("HEIF",),
}

# ISO-BMFF brands (ftyp major or compatible) of HEVC-coded HEIF images and
# image sequences, and of the generic HEIF structure.
_HEVC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2", b"mif3"})
# AV1-coded HEIF: the installed libheif has no AV1 decoder, and the contract
# does not list AVIF.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})

_TAG_ORIENTATION = ExifTags.Base.Orientation  # 0x0112
_TAG_MAKE = ExifTags.Base.Make  # 0x010F
_TAG_MODEL = ExifTags.Base.Model  # 0x0110
_TAG_DATETIME_ORIGINAL = ExifTags.Base.DateTimeOriginal  # 0x9003
_TAG_OFFSET_TIME_ORIGINAL = ExifTags.Base.OffsetTimeOriginal  # 0x9011
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4

_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_DATETIME_RE = re.compile(r"(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET_RE = re.compile(r"([+-])(\d{2}):(\d{2})")
_BOMB_PIXELS_RE = re.compile(r"\((\d+) pixels\)")

T = TypeVar("T")


class PhotoRejected(Exception):
    """The upload is refused; ``code`` is the API error code, ``detail`` is for people."""

    def __init__(self, code: str, detail: str):
        if code not in REJECTION_CODES:
            raise ValueError(f"unknown photo rejection code: {code!r}")
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


# ---------------------------------------------------------------------------
# Receiving


@dataclass(frozen=True)
class Received:
    """An upload streamed to a temporary file, with its SHA-256 and size."""

    path: Path
    sha256: str
    size: int


def receive(stream: Any, *, directory: Path, max_bytes: int, chunk_size: int = 64 * 1024) -> Received:
    """Stream a binary file-like (anything with ``.read(n)``) into a new
    temporary file in ``directory`` (created if missing), hashing SHA-256 on
    the way.

    At most ``chunk_size`` bytes are held in memory. As soon as more than
    ``max_bytes`` have arrived the partial file is deleted and
    ``PhotoRejected("payload_too_large")`` is raised; an empty body is
    ``PhotoRejected("unsupported_media")``. Any other failure (a client that
    disconnects, a full disk) also deletes the partial file and propagates
    unchanged. The caller owns the returned file and deletes it when done.
    """
    if max_bytes < 0:
        raise ValueError("max_bytes must not be negative")
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    digest = hashlib.sha256()
    size = 0
    Path(directory).mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=temporary_prefix("upload-"), suffix=".part", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                # Never ask for more than one byte beyond the limit.
                chunk = stream.read(min(chunk_size, max_bytes - size + 1))
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise PhotoRejected(
                        "payload_too_large", f"the upload is larger than the limit of {max_bytes} bytes"
                    )
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise PhotoRejected("unsupported_media", "empty body: the upload contains no bytes")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Received(path=path, sha256=digest.hexdigest(), size=size)


# ---------------------------------------------------------------------------
# Recognising


def sniff(head: bytes) -> str | None:
    """Content type from the magic bytes at the start of a file, or None.

    Only the types the API accepts are recognised: JPEG, PNG, WebP, and HEIF
    (``image/heic`` when an HEVC brand is present, ``image/heif`` for the
    generic ``mif1``/``msf1`` structure). GIF, AVIF, text and anything else
    give None. The file name and the declared Content-Type play no part.
    """
    head = bytes(head)
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) >= 16 and head[4:8] == b"ftyp":
        return _sniff_isobmff(head)
    return None


def _sniff_isobmff(head: bytes) -> str | None:
    box_size = struct.unpack(">I", head[:4])[0]
    if box_size == 0:  # the box runs to the end of the file
        end = len(head)
    elif box_size < 16:  # too small for major brand + minor version (or a 64-bit size: not an image ftyp)
        return None
    else:
        end = min(box_size, len(head))
    brands = {head[8:12]}
    brands.update(head[offset : offset + 4] for offset in range(16, end - 3, 4))
    if brands & _HEVC_BRANDS:
        return "image/heic"
    if brands & _AVIF_BRANDS:
        return None
    if brands & _HEIF_BRANDS:
        return "image/heif"
    return None


def _sniff_file(path: Path) -> str:
    with open(path, "rb") as file:
        head = file.read(HEAD_SIZE)
    if not head:
        raise PhotoRejected("unsupported_media", "empty file: there are no bytes to read")
    content_type = sniff(head)
    if content_type is None:
        raise PhotoRejected("unsupported_media", "not a JPEG, PNG, WebP or HEIC/HEIF image")
    return content_type


# ---------------------------------------------------------------------------
# Opening and decoding


def _pixel_limit_error(max_pixels: int, pixels: int | None, size: tuple[int, int] | None = None) -> PhotoRejected:
    if size is not None:
        found = f" ({size[0]} x {size[1]} = {size[0] * size[1]} pixels)"
    elif pixels is not None:
        found = f" ({pixels} pixels)"
    else:
        found = ""
    return PhotoRejected(
        "corrupt_image", f"the image exceeds the pixel limit of {max_pixels} pixels{found}; it was not decoded"
    )


@contextmanager
def _open_image(path: Path, content_type: str, max_pixels: int) -> Iterator[Image.Image]:
    """Open without decoding, and refuse before any decoding an image whose
    declared size exceeds ``max_pixels``.

    Pillow makes its own check inside ``Image.open`` (a DecompressionBombError
    above 2 x ``Image.MAX_IMAGE_PIXELS``, about 179 MP by default, and a
    DecompressionBombWarning above ``Image.MAX_IMAGE_PIXELS``, which is an
    exception only where warnings are turned into errors); both become the
    same refusal as ours. A ``max_pixels`` above Pillow's hard limit therefore
    needs ``Image.MAX_IMAGE_PIXELS`` raised too, which this module never does.
    """
    label = content_type.removeprefix("image/").upper()
    try:
        image = Image.open(path, formats=_PILLOW_FORMATS[content_type])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        match = _BOMB_PIXELS_RE.search(str(exc))
        limit = max_pixels
        if Image.MAX_IMAGE_PIXELS:  # report the limit that applied, if Pillow's was the lower
            factor = 2 if isinstance(exc, Image.DecompressionBombError) else 1
            limit = min(limit, int(factor * Image.MAX_IMAGE_PIXELS))
        raise _pixel_limit_error(limit, int(match.group(1)) if match else None) from exc
    except UnidentifiedImageError as exc:
        raise PhotoRejected(
            "corrupt_image", f"the file starts like a {label} image but its structure cannot be read"
        ) from exc
    except Exception as exc:
        raise PhotoRejected("corrupt_image", f"the {label} image cannot be opened: {_describe(exc)}") from exc
    with image:
        width, height = image.size
        if width < 1 or height < 1:
            raise PhotoRejected("corrupt_image", f"the image has no pixels ({width} x {height})")
        if width * height > max_pixels:
            raise _pixel_limit_error(max_pixels, None, (width, height))
        yield image


def _decode_all(image: Image.Image, max_pixels: int) -> None:
    """Decode every pixel, so that a truncated or damaged file is refused.

    Pillow raises on a short file ("image file is truncated") because this
    module never sets ``ImageFile.LOAD_TRUNCATED_IMAGES``; libjpeg's recoverable
    warnings (stray bytes between markers) are not errors.

    An animated WebP has its frames decoded one after another while the total
    stays within ``max_pixels``; the first frame, the one rendered, always is.
    Other multi-image files (MPO, Ultra HDR gain maps, HEIF auxiliary and
    thumbnail images) have only their primary image decoded: that is the photo.
    """
    frames = 1
    if image.format == "WEBP":
        frames = max(1, int(getattr(image, "n_frames", 1)))
        frame_pixels = image.size[0] * image.size[1]
        frames = max(1, min(frames, max_pixels // frame_pixels))
    for index in range(frames):
        if index:
            image.seek(index)
        image.load()
    if frames > 1:
        image.seek(0)
        image.load()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]


def _decode_or_reject(image: Image.Image, max_pixels: int) -> None:
    try:
        _decode_all(image, max_pixels)
    except PhotoRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _pixel_limit_error(max_pixels, None, image.size) from exc
    except Exception as exc:
        # OSError ("image file is truncated", "broken data stream"), EOFError,
        # SyntaxError (bad PNG chunk CRC), zlib.error, ValueError, MemoryError...
        raise PhotoRejected("corrupt_image", f"the pixels cannot be fully decoded: {_describe(exc)}") from exc


# ---------------------------------------------------------------------------
# Metadata


@dataclass(frozen=True)
class PhotoInfo:
    """What ``inspect`` learned about a photo. Unreadable metadata is None.

    ``width`` and ``height`` are those of the decoded image before EXIF
    orientation is applied. ``orientation`` is the EXIF orientation still to
    be applied to those pixels: for HEIC/HEIF, libheif has already applied the
    container's rotation and mirroring (irot/imir) while decoding, and
    pillow-heif resets the EXIF tag to 1, so a HEIC shot in portrait reports
    portrait width/height and orientation 1 (never 6: that would rotate twice).
    """

    content_type: str
    width: int
    height: int
    orientation: int | None
    datetime_original: datetime | None
    offset: str | None
    gps: tuple[float, float] | None
    make: str | None
    model: str | None

    def taken_at(self, default_tz: tzinfo) -> datetime | None:
        """Aware shooting time: with the camera's offset when known, else the
        camera's wall-clock time read in ``default_tz``."""
        if self.datetime_original is None:
            return None
        if self.offset is not None:
            zone = _offset_timezone(self.offset)
            if zone is not None:
                return self.datetime_original.replace(tzinfo=zone)
        return self.datetime_original.replace(tzinfo=default_tz)


def _safe(read: Callable[[], T]) -> T | None:
    """Metadata is best effort: any failure reading one value makes it None."""
    try:
        return read()
    except Exception:
        return None


def _text(value: Any) -> str | None:
    """An EXIF ASCII value as clean text: up to the first NUL, trimmed, printable."""
    if isinstance(value, tuple) and len(value) == 1:
        value = value[0]
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return None
    value = value.split("\x00", 1)[0]
    value = "".join(ch for ch in value if ch.isprintable()).strip()
    return value[:100] or None


def _orientation(exif: Image.Exif) -> int | None:
    value = exif.get(_TAG_ORIENTATION)
    if isinstance(value, tuple) and len(value) == 1:
        value = value[0]
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8:
        return value
    return None  # absent, 0 ("unknown", invalid per the spec) or garbage


def _exif_ifd_value(exif: Image.Exif, tag: int) -> Any:
    value = _safe(lambda: exif.get_ifd(ExifTags.IFD.Exif).get(tag))
    if value is None:
        # Some writers put Exif-IFD tags straight into IFD0.
        value = exif.get(tag)
    return value


def _parse_datetime(value: Any) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    match = _DATETIME_RE.match(text)
    if match is None:
        return None
    try:
        return datetime(*(int(part) for part in match.groups()))
    except ValueError:  # "0000:00:00 00:00:00", month 13, hour 24...
        return None


def _parse_offset(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    match = _OFFSET_RE.fullmatch(text)
    if match is None:
        return None
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3))
    if hours > 14 or minutes > 59 or (hours == 14 and minutes):
        return None
    return f"{sign}{hours:02d}:{minutes:02d}"


def _offset_timezone(offset: str) -> timezone | None:
    match = _OFFSET_RE.fullmatch(offset)
    if match is None:
        return None
    delta = timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
    return timezone(-delta if match.group(1) == "-" else delta)


def _number(value: Any) -> float | None:
    """A finite, non-negative EXIF number; None for 0/0 and other garbage."""
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        numerator, denominator = value  # (numerator, denominator), as older readers give it
        if denominator == 0:
            return None
        number = numerator / denominator
    else:
        if getattr(value, "denominator", 1) == 0:  # IFDRational or Fraction with a zero denominator
            return None
        if isinstance(value, bool):
            return None
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError, ZeroDivisionError):
            return None
    if not math.isfinite(number) or number < 0:
        return None
    return number


def _degrees(value: Any) -> float | None:
    """Degrees, minutes, seconds (any of them may be fractional) to decimal degrees."""
    parts = value if isinstance(value, (tuple, list)) else (value,)
    if not 1 <= len(parts) <= 3:
        return None
    numbers = [_number(part) for part in parts]
    if any(number is None for number in numbers):
        return None
    degrees, minutes, seconds = (numbers + [0.0, 0.0])[:3]
    if minutes >= 60 or seconds >= 60:
        return None
    return degrees + minutes / 60 + seconds / 3600


def _hemisphere(value: Any, allowed: str) -> str | None:
    text = _text(value)
    if text is None:
        return None
    text = text.upper()
    return text if len(text) == 1 and text in allowed else None


def _parse_gps(gps: dict[int, Any]) -> tuple[float, float] | None:
    """Signed WGS-84 (lat, lon), or None unless the GPS IFD gives a usable fix.

    Unusable: a missing or empty hemisphere reference, a rational with a zero
    denominator (0/0 is how several cameras write "no fix"), values out of
    range, and exactly (0, 0), the placeholder written without a fix.
    """
    if not gps:
        return None
    lat = _degrees(gps.get(_GPS_LAT))
    lon = _degrees(gps.get(_GPS_LON))
    lat_ref = _hemisphere(gps.get(_GPS_LAT_REF), "NS")
    lon_ref = _hemisphere(gps.get(_GPS_LON_REF), "EW")
    if lat is None or lon is None or lat_ref is None or lon_ref is None:
        return None
    if lat > 90 or lon > 180:
        return None
    if lat == 0 and lon == 0:
        return None
    return (-lat if lat_ref == "S" else lat, -lon if lon_ref == "W" else lon)


@dataclass(frozen=True)
class _Metadata:
    orientation: int | None = None
    datetime_original: datetime | None = None
    offset: str | None = None
    gps: tuple[float, float] | None = None
    make: str | None = None
    model: str | None = None


def _read_metadata(image: Image.Image) -> _Metadata:
    """EXIF of a decoded image (JPEG APP1, PNG eXIf, WebP EXIF chunk, HEIF
    Exif item); each value is read on its own so one bad tag spoils nothing else."""
    exif = _safe(image.getexif)
    if exif is None:
        return _Metadata()
    gps_ifd = _safe(lambda: exif.get_ifd(ExifTags.IFD.GPSInfo))
    return _Metadata(
        orientation=_safe(lambda: _orientation(exif)),
        datetime_original=_safe(lambda: _parse_datetime(_exif_ifd_value(exif, _TAG_DATETIME_ORIGINAL))),
        offset=_safe(lambda: _parse_offset(_exif_ifd_value(exif, _TAG_OFFSET_TIME_ORIGINAL))),
        gps=_safe(lambda: _parse_gps(gps_ifd)) if gps_ifd else None,
        make=_safe(lambda: _text(exif.get(_TAG_MAKE))),
        model=_safe(lambda: _text(exif.get(_TAG_MODEL))),
    )


# ---------------------------------------------------------------------------
# Public: inspect and render


def inspect(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> PhotoInfo:
    """Recognise, bound, fully decode and describe the photo at ``path``.

    Order matters: the type comes from the magic bytes; the declared size is
    checked against ``max_pixels`` before anything is decoded (decompression
    bombs); then every pixel is decoded, so a truncated file is refused; the
    metadata is read last and never causes a refusal.

    Raises ``PhotoRejected`` with ``unsupported_media`` (empty file, unknown
    type) or ``corrupt_image`` (unreadable structure, pixels that do not
    decode, too many pixels), and nothing else whatever the bytes are.

    A note on Ultra HDR JPEGs: Pillow opens them as plain JPEGs (it does not
    follow the MPF index to the gain map) and decodes the primary image, which
    is the photo; the gain map is neither needed nor checked. A JPEG whose
    primary image's entropy-coded data is incomplete is refused whatever its
    MPF or XMP say: Pillow's "image file is truncated (N bytes not
    processed)" means the decoder ran out of input before the last scan line,
    and N only counts bytes left in Pillow's buffer at that moment, so 0 is no
    milder than 10. (The corpus file gps_jpeg/ultrahdr.jpg is such a file: its
    first 48,197 bytes end exactly at the end of the SOS header, with no scan
    data at all, while its own MPF index gives the primary image as 512,743
    bytes long. It is refused.)
    """
    path = Path(path)
    content_type = _sniff_file(path)
    try:
        with _open_image(path, content_type, max_pixels) as image:
            _decode_or_reject(image, max_pixels)
            width, height = image.size  # after decoding: pillow-heif may only then know it
            metadata = _read_metadata(image)
    except PhotoRejected:
        raise
    except Exception as exc:  # the last net: no input may surface anything else
        raise PhotoRejected("corrupt_image", f"the image cannot be read: {_describe(exc)}") from exc
    return PhotoInfo(
        content_type=content_type,
        width=width,
        height=height,
        orientation=metadata.orientation,
        datetime_original=metadata.datetime_original,
        offset=metadata.offset,
        gps=metadata.gps,
        make=metadata.make,
        model=metadata.model,
    )


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB pixels; transparency is flattened onto white."""
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode.startswith("I;16") or mode == "I":
        # 16-bit greyscale (PNG): scale 0..65535 down to 0..255.
        image = image.convert("I").point(lambda value: value * (1 / 257)).convert("L")
        mode = "L"
    elif mode == "F":
        image = image.convert("L")
        mode = "L"
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _rgb_icc_profile(image: Image.Image) -> bytes | None:
    """The source's ICC profile when it describes RGB data (kept so that wide
    gamut phone photos keep their colours), else None."""
    profile = image.info.get("icc_profile")
    if isinstance(profile, (bytes, bytearray)) and len(profile) >= 128 and profile[16:20] == b"RGB ":
        return bytes(profile)
    return None


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``size`` scaled down (never up) so that its longer side is at most ``max_side``."""
    width, height = size
    if max(width, height) <= max_side:
        return size
    if width >= height:
        return max_side, max(1, round(height * max_side / width))
    return max(1, round(width * max_side / height)), max_side


def render(path: Path, *, max_side: int, quality: int = 82, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """JPEG bytes of the photo, upright, RGB, longest side at most ``max_side``.

    Upright follows ``ImageOps.exif_transpose`` (orientation 2..8 applied;
    0, 1, absent or invalid leave the pixels as they are). HEIC/HEIF pixels
    arrive already upright from libheif (see ``PhotoInfo``). Images are never
    upscaled. Large JPEGs are decoded at a reduced DCT scale (``Image.draft``)
    no smaller than the target, then resampled. Alpha is flattened onto white.
    No EXIF is copied (so no viewer can rotate it a second time, and the GPS
    stays in the original only); an RGB ICC profile is kept.

    Raises ``PhotoRejected`` like ``inspect`` for bytes it cannot render.
    """
    if max_side < 1:
        raise ValueError("max_side must be positive")
    path = Path(path)
    content_type = _sniff_file(path)
    try:
        with _open_image(path, content_type, max_pixels) as image:
            width, height = image.size
            drafted = None
            if max(width, height) > max_side:
                scale = max_side / max(width, height)
                # A no-op for everything but JPEG; JPEG picks the smallest
                # 1/2, 1/4 or 1/8 scale still at least this large.
                drafted = image.draft(None, (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))))
            try:
                image.load()
            except Exception as exc:
                raise PhotoRejected(
                    "corrupt_image", f"the pixels cannot be fully decoded: {_describe(exc)}"
                ) from exc
            if drafted is None:
                width, height = image.size  # pillow-heif may only know the size after decoding
            orientation = _read_metadata(image).orientation
            icc_profile = _rgb_icc_profile(image)
            # Never resize the opened image in place (Image.thumbnail): a
            # multi-image HEIF re-decodes itself, full size, on the next load().
            picture = _to_rgb(image)
            target = _fit((width, height), max_side)
            if picture.size != target:
                picture = picture.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
            method = _TRANSPOSE_FOR_ORIENTATION.get(orientation or 1)
            if method is not None:
                picture = picture.transpose(method)
            if picture is image:
                picture = image.copy()
            out = io.BytesIO()
            picture.save(out, format="JPEG", quality=quality, icc_profile=icc_profile)
            return out.getvalue()
    except PhotoRejected:
        raise
    except Exception as exc:
        raise PhotoRejected("corrupt_image", f"the image cannot be rendered: {_describe(exc)}") from exc
