"""Evidence photos: checked to be real images, re-encoded (no EXIF, no payloads), kept outside static/.

Decoding is bounded. A small file can declare a huge image (a 187 KB PNG of 7700 × 7700 pixels
took half a gigabyte to decode): the size in the header is checked before anything is decoded,
JPEGs are decoded at the smallest scale that still gives MAX_SIDE (libjpeg's draft mode: a 50 MP
camera photo decodes at a quarter of its pixels), and what is left must stay within MAX_PIXELS.
Each process decodes at most DECODING_BUDGET pixels at once; an upload that would exceed it is
refused at once with 503 "服务器正忙" (the tablet retries by itself) rather than queued.
"""

import hashlib
import io
import threading
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from inspect_app import audit
from inspect_app.db import database
from inspect_app.errors import Busy, Conflict, NotFound, ValidationFailed
from inspect_app.models import Photo, now

MAX_BYTES = 15 * 1024 * 1024
MAX_SIDE = 2560
THUMB_SIDE = 360
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "MPO"}
DRAFT_FORMATS = {"JPEG", "MPO"}
# Pixels one decode may produce: 24 MP is a 6000 × 4000 photo (96 MB as RGBA).
MAX_PIXELS = 24_000_000
# Pixels a header may declare at all: a 108 MP phone photo, decoded at a quarter (draft).
MAX_DECLARED_PIXELS = 120_000_000
# Pixels decoded at once in this process: two images of the largest size, or many small ones.
DECODING_BUDGET = 2 * MAX_PIXELS

# Pillow's own guard for every image this process opens: a warning beyond it (an error in
# _decode below), an error beyond twice it.
Image.MAX_IMAGE_PIXELS = MAX_DECLARED_PIXELS

_budget_lock = threading.Lock()
_in_flight = 0


def _megapixels(pixels):
    return f"{pixels / 10_000:.0f} 万像素"


def _too_large(width, height, limit):
    return ValidationFailed(
        f"图片像素过大（{width}×{height}，约 {_megapixels(width * height)}），"
        f"超过 {_megapixels(limit)}的上限，请缩小后再上传"
    )


@contextmanager
def decoding(pixels):
    """Holds `pixels` of this process's decoding budget while decoding; refuses when full.

    A plain counter under a lock, never a timed wait: the lock is held for two additions only,
    and a timed wait would never wake under libfaketime (the suite's faked clock)."""
    global _in_flight
    with _budget_lock:
        if _in_flight and _in_flight + pixels > DECODING_BUDGET:
            raise Busy("服务器正忙：正在处理的照片较多，请稍后重试（平板会自动重试）")
        _in_flight += pixels
    try:
        yield
    finally:
        with _budget_lock:
            _in_flight -= pixels


def photo_dir(upload_folder):
    path = Path(upload_folder) / "photos"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _open(data):
    """The image (header read only), at the scale it will decode to."""
    image = Image.open(io.BytesIO(data))
    if image.format not in ACCEPTED_FORMATS:
        raise ValidationFailed(f"不支持的图片格式 {image.format}，请上传 JPG、PNG 或 WEBP 照片")
    declared = image.size
    if declared[0] * declared[1] > MAX_DECLARED_PIXELS:
        raise _too_large(*declared, MAX_DECLARED_PIXELS)
    if image.format in DRAFT_FORMATS:
        image.draft("RGB", (MAX_SIDE, MAX_SIDE))
    if image.width * image.height > MAX_PIXELS:
        raise _too_large(*declared, MAX_PIXELS)
    return image


def _decode(data):
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            probe = _open(data)
            probe.verify()
            image = _open(data)
            with decoding(image.width * image.height):
                image.load()
                image.thumbnail((MAX_SIDE, MAX_SIDE))  # in place: the full size goes at once
                image = ImageOps.exif_transpose(image)  # upright as the camera saw, then no EXIF
                return image.convert("RGB")
        except (ValidationFailed, Busy):
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ValidationFailed(
                f"图片像素过大，超过 {_megapixels(MAX_DECLARED_PIXELS)}的上限，请缩小后再上传"
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise ValidationFailed("文件不是有效的图片，请重新拍照或选择照片") from None


def _jpeg(image, side):
    copy = image.copy()
    copy.thumbnail((side, side))
    out = io.BytesIO()
    copy.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue(), copy.size


def store_photo(inspection, item_code, upload, *, by, client_id, upload_folder, editable):
    """Save one photo for an item (or for the inspection when item_code is None)."""
    client_id = (client_id or "").strip()
    if not 8 <= len(client_id) <= 64:
        raise ValidationFailed("上传请求缺少有效的标识（client_id），请刷新页面后重试")
    existing = Photo.get_or_none(Photo.client_id == client_id)
    if existing is not None:  # a retried upload
        if existing.inspection_id != inspection.id:
            raise Conflict("上传标识重复，请刷新页面后重试")
        return existing
    if not editable:
        raise Conflict("本次检查已提交或锁定，不能再上传照片")
    if upload is None or not upload.filename:
        raise ValidationFailed("请选择照片")
    data = upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValidationFailed(f"照片不能超过 {MAX_BYTES // 1024 // 1024} MB，请压缩后再上传")
    if not data:
        raise ValidationFailed("照片文件是空的")
    image = _decode(data)
    full, size = _jpeg(image, MAX_SIDE)
    thumb, _ = _jpeg(image, THUMB_SIDE)
    name = uuid.uuid4().hex
    folder = photo_dir(upload_folder)
    (folder / f"{name}.jpg").write_bytes(full)
    (folder / f"{name}.thumb.jpg").write_bytes(thumb)
    with database.atomic():
        photo = Photo.create(
            inspection=inspection,
            item_code=item_code,
            client_id=client_id,
            file_name=name,
            width=size[0],
            height=size[1],
            size=len(full),
            sha256=hashlib.sha256(full).hexdigest(),
            uploaded_by=by,
        )
        audit.record(
            by,
            "photo.upload",
            photo,
            f"上传现场照片（{inspection.unit.name}{'，' + item_code if item_code else ''}）",
            {"inspection": inspection.id, "sha256": photo.sha256},
        )
    return photo


def remove_photo(photo, *, by, editable):
    if not editable:
        raise Conflict("本次检查已提交或锁定，不能再删除照片")
    with database.atomic():
        photo.removed_at = now()
        photo.save(only=[Photo.removed_at])
        audit.record(
            by,
            "photo.remove",
            photo,
            f"删除现场照片（{photo.item_code or '检查整体'}）",
            {"inspection": photo.inspection_id, "sha256": photo.sha256},
        )


def photo_file(photo, upload_folder, thumb=False):
    path = photo_dir(upload_folder) / f"{photo.file_name}{'.thumb' if thumb else ''}.jpg"
    if not path.exists():
        raise NotFound("照片文件不存在")
    return path


def get_photo(photo_id):
    photo = Photo.get_or_none(Photo.id == photo_id)
    if photo is None:
        raise NotFound("照片不存在")
    return photo


def photos_by_item(inspection):
    grouped = {}
    for photo in (
        Photo.select()
        .where(Photo.inspection == inspection.id, Photo.removed_at.is_null())
        .order_by(Photo.id)
    ):
        grouped.setdefault(photo.item_code, []).append(photo)
    return grouped
