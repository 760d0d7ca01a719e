"""Builds the offline installation bundle (`make bundle`) on a machine with network access.

dist/inspect_app-bundle-<version>.tar.gz unpacks to inspect_app-<version>/ holding
  the project's files (those git tracks, as they are on disk), so `make run` works as in a checkout;
  offline/wheels/     the wheels of requirements/build.lock and runtime.lock (no test tools), and
                      the project's own wheel, for installing it without make;
  offline/debs/       the Debian packages the product needs that a minimal Debian 12 lacks, with the
                      index (Packages, Release) that makes the folder an apt repository;
  offline/fonts/      the Fandol 公文 fonts;
  offline/PLATFORM    what the wheels are for (first line, e.g. cp311-x86_64) and where they come from;
  offline/SHA256SUMS  every file of the bundle, for `sha256sum -c offline/SHA256SUMS` after a copy.
The Makefile of the unpacked bundle sees offline/wheels and installs from these files only.
See docs/offline-install.md.
"""

import argparse
import email.utils
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DPKG_STATUS = Path("/var/lib/dpkg/status")


class BundleError(Exception):
    """Why the bundle cannot be built, in Chinese, for the person at the terminal."""


def run(command, what, **kwargs):
    try:
        return subprocess.run(command, check=True, text=True, capture_output=True, **kwargs)
    except FileNotFoundError as error:
        raise BundleError(f"{what}失败：找不到命令 {command[0]}") from error
    except subprocess.CalledProcessError as error:
        raise BundleError(
            f"{what}失败：\n{error.stderr.strip() or error.stdout.strip()}"
        ) from error


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def python_platform():
    """The tag the Makefile compares with offline/PLATFORM (see PY_PLATFORM there)."""
    return f"cp{sys.version_info[0]}{sys.version_info[1]}-{platform.machine()}"


# -- the project's files ----------------------------------------------------------------------


def source_files():
    """Paths (relative to the project) of the files git tracks, as they are on disk."""
    listed = run(["git", "-C", str(ROOT), "ls-files", "-z"], "用 git 列出项目文件")
    names = sorted(name for name in listed.stdout.split("\0") if name)
    if not names:
        raise BundleError("make bundle 需在项目的 git 检出目录中执行（要打包的文件由 git 列出）。")
    return [name for name in names if (ROOT / name).is_file()]


def copy_sources(names, target):
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)


# -- Python wheels -----------------------------------------------------------------------------


def wheels(names, target, scratch):
    """The locked build and runtime wheels, checked against the lock's hashes, and the project's
    wheel built from a clean copy of the sources (so nothing stale from build/ gets in)."""
    pip = [sys.executable, "-m", "pip"]
    run(
        [
            *pip,
            "download",
            "--quiet",
            "--only-binary=:all:",  # offline there is no compiler: wheels only
            "--no-deps",
            "--require-hashes",
            "-r",
            str(ROOT / "requirements" / "build.lock"),
            "-r",
            str(ROOT / "requirements" / "runtime.lock"),
            "--dest",
            str(target),
        ],
        "下载 Python 软件包（requirements/build.lock、runtime.lock）",
    )
    source = scratch / "source"
    copy_sources(names, source)
    run(
        [*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(target)]
        + [str(source)],
        "构建本项目的 wheel",
    )


# -- Debian packages ---------------------------------------------------------------------------


def _paragraphs(text):
    return [block for block in text.split("\n\n") if block.strip()]


def _field(paragraph, name):
    found = re.search(rf"^{name}: (.*(?:\n[ \t].*)*)", paragraph, re.M)
    return found.group(1) if found else ""


def archive_priorities(names):
    """{package: priority} as the Debian archive has it now (a long-lived machine's dpkg status
    may remember an older priority: sensible-utils was required once, important in Debian 12)."""
    shown = run(["apt-cache", "show", "--no-all-versions", *names], "用 apt-cache 查询软件包优先级")
    return {
        _field(block, "Package"): _field(block, "Priority") for block in _paragraphs(shown.stdout)
    }


def minimal_status(status_text, priorities=None):
    """dpkg's status file as a minimal Debian 12 (debootstrap --variant=minbase) has it: the
    essential and required packages and what they depend on, at the versions installed here.
    `priorities` (from archive_priorities) overrides what the status file says."""
    installed, provided_by = {}, {}
    for paragraph in _paragraphs(status_text):
        if "install ok installed" not in _field(paragraph, "Status"):
            continue
        name = _field(paragraph, "Package")
        installed[name] = paragraph
        for provided in _field(paragraph, "Provides").split(","):
            if provided.strip():
                provided_by.setdefault(provided.split()[0], name)
    priorities = priorities or {}
    todo = [
        name
        for name, paragraph in installed.items()
        if _field(paragraph, "Essential") == "yes"
        or priorities.get(name, _field(paragraph, "Priority")) == "required"
    ]
    keep = set()
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        paragraph = installed[name]
        for group in f"{_field(paragraph, 'Pre-Depends')},{_field(paragraph, 'Depends')}".split(
            ","
        ):
            for alternative in group.split("|"):
                wanted = alternative.split()[0].split(":")[0] if alternative.strip() else ""
                chosen = wanted if wanted in installed else provided_by.get(wanted)
                if chosen:
                    todo.append(chosen)
                    break
    return "\n\n".join(installed[name] for name in sorted(keep)) + "\n"


def minimal_status_here():
    text = DPKG_STATUS.read_text()
    marked = [
        _field(block, "Package")
        for block in _paragraphs(text)
        if _field(block, "Priority") == "required" or _field(block, "Essential") == "yes"
    ]
    return minimal_status(text, archive_priorities(marked))


def debs(packages, target, cache, scratch):
    """The packages and every dependency a minimal Debian 12 lacks, downloaded by apt (which checks
    them against the signed archive), into target with an apt index."""
    status = scratch / "minimal-status"
    status.write_text(minimal_status_here())
    listing = scratch / "listing"
    for folder in (cache / "partial", listing / "partial"):
        folder.mkdir(parents=True, exist_ok=True)

    def apt(archives, *arguments):
        return run(
            [
                "apt-get",
                "-q",
                "-y",
                "--no-install-recommends",
                "-o",
                f"Dir::State::status={status}",
                "-o",
                f"Dir::Cache::archives={archives}",
                "-o",
                "Debug::NoLocking=1",
                *arguments,
                "install",
                *packages,
            ],
            "用 apt 下载 Debian 软件包（若提示找不到，请先执行 apt-get update）",
        )

    # apt prints the files it would fetch into an empty folder: the full list.
    uris = apt(listing, "--print-uris").stdout
    files = re.findall(r"^'[^']+' (\S+) \d+", uris, re.M)
    if not files:
        raise BundleError("apt 没有列出任何要下载的 Debian 软件包：" + " ".join(packages))
    apt(cache, "--download-only")
    for name in files:
        shutil.copy2(cache / name, target / name)
    write_apt_index(target)
    return files


def write_apt_index(folder):
    """Packages and Release, so that apt can use the folder as a repository (offline/apt-local.sh)."""
    entries = []
    for deb in sorted(folder.glob("*.deb")):
        control = run(["dpkg-deb", "--field", str(deb)], f"读取 {deb.name}").stdout.rstrip("\n")
        entries.append(
            f"{control}\nFilename: ./{deb.name}\nSize: {deb.stat().st_size}\nSHA256: {sha256(deb)}\n"
        )
    packages = folder / "Packages"
    packages.write_text("\n".join(entries))
    # apt wants a Date; the newest package's own date keeps the index the same for the same debs.
    newest = max((deb.stat().st_mtime for deb in folder.glob("*.deb")), default=0)
    date = email.utils.formatdate(newest, usegmt=True)
    (folder / "Release").write_text(
        f"Origin: inspect_app offline bundle\nLabel: inspect_app\nDate: {date}\n"
        f"SHA256:\n {sha256(packages)} {packages.stat().st_size} Packages\n"
    )


# -- the bundle --------------------------------------------------------------------------------


def fonts(source, target):
    from inspect_app.notices.render import FONT_FILES

    for name in sorted(set(FONT_FILES.values())):
        if not (source / name).is_file():
            raise BundleError(f"缺少公文字体 {source / name}，请先执行 make fonts。")
        shutil.copy2(source / name, target / name)


def describe_source():
    head = run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], "读取 git 提交").stdout
    dirty = run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], "git")
    return head.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def checksums(top, listing):
    lines = [
        f"{sha256(path)}  {path.relative_to(top)}"
        for path in sorted(top.rglob("*"))
        if path.is_file()
    ]
    listing.write_text("\n".join(lines) + "\n")


def _owned_by_root(info):
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def build(out, font_dir, packages, cache):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    name = f"inspect_app-{version}"
    out.mkdir(parents=True, exist_ok=True)
    names = source_files()
    with tempfile.TemporaryDirectory(prefix=".bundle-", dir=out) as scratch:
        scratch = Path(scratch)
        top = scratch / name
        offline = top / "offline"
        copy_sources(names, top)
        for folder in ("wheels", "debs", "fonts"):
            (offline / folder).mkdir(parents=True)
        print("Python 软件包…", flush=True)
        wheels(names, offline / "wheels", scratch)
        print("Debian 软件包…", flush=True)
        debs(packages, offline / "debs", cache, scratch)
        print("公文字体…", flush=True)
        fonts(font_dir, offline / "fonts")
        system = platform.freedesktop_os_release().get("PRETTY_NAME", "?")
        architecture = run(["dpkg", "--print-architecture"], "dpkg").stdout.strip()
        (offline / "PLATFORM").write_text(
            f"{python_platform()}\n"
            f"Python {platform.python_version()}, {system}, {architecture}\n"
            f"inspect_app {version}, git {describe_source()}\n"
            f"Debian packages for: {' '.join(packages)}\n"
        )
        checksums(top, offline / "SHA256SUMS")
        print("打包…", flush=True)
        archive = out / f"inspect_app-bundle-{version}.tar.gz"
        partial = scratch / archive.name
        with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
            tar.add(top, arcname=name, filter=_owned_by_root)
        partial.replace(archive)
    (out / f"{archive.name}.sha256").write_text(f"{sha256(archive)}  {archive.name}\n")
    return archive


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--fonts", type=Path, default=ROOT / "static" / "fonts" / "fandol")
    parser.add_argument("--debs", required=True, help="Debian packages the product needs")
    parser.add_argument(
        "--cache",
        type=Path,
        default=ROOT / "build" / "bundle-cache" / "debs",
        help="where downloaded .deb files are kept between builds",
    )
    args = parser.parse_args(argv)
    try:
        archive = build(args.out.resolve(), args.fonts, args.debs.split(), args.cache.resolve())
    except BundleError as error:
        print(f"无法生成离线安装包：{error}", file=sys.stderr)
        return 1
    size = archive.stat().st_size / 1e6
    print(
        f"离线安装包：{os.path.relpath(archive)}（{size:.0f} MB），校验值在 {archive.name}.sha256"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
