"""Issued notices record an SM3 digest (GB/T 32905, 国密) beside their SHA-256.

Notices issued before this migration get theirs from their stored PDF, but only when that file
still has the SHA-256 recorded at issue (it is then the original); any other keeps none and is
filled in later by the first download or check that finds the file intact (notices/service.py).
"""

import hashlib
import os
from pathlib import Path

from peewee import CharField
from playhouse.migrate import SchemaMigrator, migrate


def _upload_folder():
    from flask import current_app, has_app_context

    if has_app_context():
        return Path(current_app.config["UPLOAD_FOLDER"])
    from inspect_app import config

    return Path(os.environ.get("INSPECT_UPLOAD_FOLDER", str(config.instance_path() / "uploads")))


def up(db):
    migrator = SchemaMigrator.from_database(db)
    migrate(migrator.add_column("notice", "sm3", CharField(max_length=64, null=True)))
    folder = _upload_folder() / "notices"
    issued = db.execute_sql(
        "SELECT id, pdf_file, sha256 FROM notice WHERE status = 'issued' AND pdf_file IS NOT NULL"
    ).fetchall()
    for notice_id, pdf_file, sha256 in issued:
        try:
            data = (folder / pdf_file).read_bytes()
        except OSError:
            continue
        if hashlib.sha256(data).hexdigest() == sha256:
            db.execute_sql(
                f"UPDATE notice SET sm3 = {db.param} WHERE id = {db.param}",
                (hashlib.new("sm3", data).hexdigest(), notice_id),
            )
