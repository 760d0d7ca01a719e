"""Evidence photos: checked to be real images, re-encoded (no EXIF, no payloads), kept outside static/."""

import hashlib
import io
import uuid
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from inspect_app import audit
from inspect_app.db import database
from inspect_app.errors import Conflict, NotFound, ValidationFailed
from inspect_app.models import Photo, now

MAX_BYTES = 15 * 1024 * 1024
MAX_SIDE = 2560
THUMB_SIDE = 360
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "MPO"}
MAX_PIXELS = 60_000_000  # a 15 MB file claiming more than this is a decompression bomb


def photo_dir(upload_folder):
    path = Path(upload_folder) / "photos"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _decode(data):
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            probe = Image.open(io.BytesIO(data))
            if probe.format not in ACCEPTED_FORMATS:
                raise ValidationFailed(
                    f"不支持的图片格式 {probe.format}，请上传 JPG、PNG 或 WEBP 照片"
                )
            if probe.width * probe.height > MAX_PIXELS:
                raise ValidationFailed("图片像素过大，请压缩后再上传")
            probe.verify()
            image = Image.open(io.BytesIO(data))
            image.load()
        except ValidationFailed:
            raise
        except (
            UnidentifiedImageError,
            OSError,
            SyntaxError,
            ValueError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
        ):
            raise ValidationFailed("文件不是有效的图片，请重新拍照或选择照片") from None
    image = ImageOps.exif_transpose(image)  # keep what the camera saw upright, then drop EXIF
    return image.convert("RGB")


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
