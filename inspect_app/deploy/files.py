"""The instance folder holds the database, the session key, the CA's key, uploads and issued
notices: readable by the user the server runs as and nobody else (folders 0700, files 0600)."""

import os
import stat
from pathlib import Path


def _restrict_one(path, *, owner=None):
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return
    if owner is not None and (info.st_uid, info.st_gid) != owner:
        os.chown(path, *owner, follow_symlinks=False)
    wanted = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
    if stat.S_IMODE(info.st_mode) != wanted:
        os.chmod(path, wanted)


def restrict(folders, *, recursive=False, owner=None):
    """Folders 0700 and the files directly in them 0600 (every file below them too with
    `recursive`), optionally owned by `owner` = (uid, gid). Folders that do not exist are
    skipped. Cheap enough for every start without `recursive`: a folder others cannot enter
    already keeps what is inside it from them."""
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        _restrict_one(folder, owner=owner)
        if recursive:
            for root, dirs, files in os.walk(folder):
                for name in (*dirs, *files):
                    _restrict_one(Path(root) / name, owner=owner)
        else:
            for child in folder.iterdir():
                if child.is_file() and not child.is_symlink():
                    _restrict_one(child, owner=owner)


def private_folders(app_config):
    """The folders that hold the instance's data: the instance folder and the uploads."""
    return [Path(app_config["INSTANCE_PATH"]), Path(app_config["UPLOAD_FOLDER"])]
