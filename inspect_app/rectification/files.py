"""Evidence files (佐证材料) for rectification: photos, PDF, Word/WPS — checked by content, not name."""

import hashlib
import io
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from inspect_app.errors import NotFound, ValidationFailed
from inspect_app.inspections.photos import _decode, _jpeg
from inspect_app.models import TaskFile

MAX_BYTES = 20 * 1024 * 1024
MAX_FILES = 10
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .doc, .wps (and other old Office files)
MIMETYPES = {
    "image": "image/jpeg",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "doc": "application/msword",
    "wps": "application/vnd.ms-works",
}


@dataclass(frozen=True)
class Checked:
    original_name: str
    kind: str
    data: bytes
    extension: str


def _kind(name, data):
    suffix = Path(name).suffix.lower()
    if data.startswith(b"%PDF-"):
        return "pdf", ".pdf", data
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if "word/document.xml" in archive.namelist():
                    return "docx", ".docx", data
        except zipfile.BadZipFile:
            pass
        raise ValidationFailed(f"“{name}”不是有效的 Word 文档")
    if data.startswith(OLE) and suffix in (".doc", ".wps"):
        return suffix[1:], suffix, data
    if (
        suffix in (".jpg", ".jpeg", ".png", ".webp", ".heic", ".gif", ".bmp")
        or data[:3] == b"\xff\xd8\xff"
        or data.startswith(b"\x89PNG")
    ):
        image = _decode(data)
        encoded, _ = _jpeg(image, 2560)
        return "image", ".jpg", encoded
    raise ValidationFailed(f"“{name}”的类型不支持：请上传照片、PDF 或 Word/WPS 文档")


def check_uploads(uploads):
    """Read and check every file before anything is saved; one bad file refuses them all."""
    uploads = [u for u in uploads if u is not None and u.filename]
    if len(uploads) > MAX_FILES:
        raise ValidationFailed(f"一次最多上传 {MAX_FILES} 个文件")
    checked = []
    for upload in uploads:
        data = upload.read(MAX_BYTES + 1)
        name = Path(upload.filename).name[:200] or "附件"
        if len(data) > MAX_BYTES:
            raise ValidationFailed(f"“{name}”超过 {MAX_BYTES // 1024 // 1024} MB")
        if not data:
            raise ValidationFailed(f"“{name}”是空文件")
        try:
            kind, extension, stored = _kind(name, data)
        except ValidationFailed as error:
            message = error.message.replace("文件不是有效的图片", f"“{name}”不是有效的图片")
            raise ValidationFailed(message.replace("图片像素过大", f"“{name}”的像素过大")) from None
        checked.append(Checked(name, kind, stored, extension))
    return checked


def folder(upload_folder):
    path = Path(upload_folder) / "tasks"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store(task, event, checked, upload_folder):
    rows = []
    for item in checked:
        name = uuid.uuid4().hex + item.extension
        (folder(upload_folder) / name).write_bytes(item.data)
        rows.append(
            TaskFile.create(
                task=task,
                event=event,
                file_name=name,
                original_name=item.original_name,
                kind=item.kind,
                size=len(item.data),
                sha256=hashlib.sha256(item.data).hexdigest(),
            )
        )
    return rows


def get_file(task, file_id):
    row = TaskFile.get_or_none(TaskFile.id == file_id, TaskFile.task == task.id)
    if row is None:
        raise NotFound("文件不存在")
    return row


def path_of(row, upload_folder):
    path = folder(upload_folder) / row.file_name
    if not path.exists():
        raise NotFound("文件不存在")
    return path
