"""What an administrator installs: locked dependencies, the wheel, the offline bundle.

The bundle tests build `make bundle` once per session (that step needs PyPI and the Debian mirror,
as on any machine that builds a bundle) and from then on use the bundle's own files only: pip gets
`--no-index`, apt a private list of the bundle's packages, and the bundle's `make run` runs inside
`unshare -n`, a network namespace with no network at all.
"""

import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.test_notices import embedded_fonts

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
TEST_TOOLS = {"pytest", "hypothesis", "playwright", "ruff", "pypdf"}
REQUIREMENTS = {
    "build": PYPROJECT["build-system"]["requires"],
    "runtime": PYPROJECT["project"]["dependencies"],
    "test": PYPROJECT["project"]["optional-dependencies"]["test"],
}
# The Debian packages `make bundle` carries (the Makefile's RUN_PACKAGES, Python and make).
RUN_PACKAGES = re.search(r"^RUN_PACKAGES := (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
BUNDLE_DEBS = RUN_PACKAGES.split() + ["python3", "python3-venv", "make"]


def locked(kind):
    """{package: (version, [sha256…])} from requirements/<kind>.lock."""
    entries = {}
    text = (ROOT / "requirements" / f"{kind}.lock").read_text()
    for block in re.split(r"\n(?=\S)", text):
        pin = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if pin:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
            entries[canonicalize_name(pin.group(1))] = (pin.group(2), hashes)
    return entries


def clean_env(home, **extra):
    """The environment of an administrator's shell: none of this test session's settings, none of
    this machine's pip configuration (its find-links would hide a wheel missing from the bundle)."""
    path = os.pathsep.join(
        entry for entry in os.environ["PATH"].split(os.pathsep) if not entry.startswith(str(ROOT))
    )
    return {
        "PATH": path,
        "HOME": str(home),  # gunicorn keeps a control socket under ~/.gunicorn
        "LANG": "C.UTF-8",
        "PIP_CONFIG_FILE": os.devnull,
        **extra,
    }


def run(command, **kwargs):
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


def unshare_works():
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


needs_unshare = pytest.mark.skipif(
    not unshare_works(), reason="unshare -n (a network namespace) needs root or user namespaces"
)


# -- dependencies -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", REQUIREMENTS)
def test_every_dependency_has_an_upper_bound(kind):
    for requirement in map(Requirement, REQUIREMENTS[kind]):
        operators = {spec.operator for spec in requirement.specifier}
        assert operators & {"<", "<=", "==", "~=", "==="}, f"{requirement} has no upper bound"


@pytest.mark.parametrize("kind", REQUIREMENTS)
def test_the_lock_pins_every_dependency_within_its_bounds_with_hashes(kind):
    pins = locked(kind)
    for requirement in map(Requirement, REQUIREMENTS[kind]):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements/{kind}.lock: run make lock"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} in requirements/{kind}.lock is outside {requirement}: run make lock"
        )
    assert all(hashes for _, hashes in pins.values())


def test_production_gets_no_test_tools_and_the_tests_run_the_same_versions():
    runtime, test = locked("runtime"), locked("test")
    assert not TEST_TOOLS & runtime.keys()
    assert test.keys() >= TEST_TOOLS
    assert {name: test[name][0] for name in runtime if name in test} == {
        name: version for name, (version, _) in runtime.items()
    }


def test_make_run_installs_no_test_tools_and_make_test_does(tmp_path):
    run_plan = run(["make", "-n", "-B", "run"], cwd=ROOT).stdout
    test_plan = run(["make", "-n", "-B", "test"], cwd=ROOT).stdout
    assert "requirements/runtime.lock" in run_plan and "requirements/test.lock" not in run_plan
    assert "requirements/test.lock" in test_plan


# -- the offline bundle -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def bundle_archive(tmp_path_factory):
    """`make bundle`, once per session, its checksum checked as an administrator would."""
    out = tmp_path_factory.mktemp("dist")
    env = {key: value for key, value in os.environ.items() if not key.startswith("INSPECT_")}
    run(["make", "--no-print-directory", "bundle", f"DIST={out}"], cwd=ROOT, env=env)
    (archive,) = out.glob("inspect_app-bundle-*.tar.gz")
    run(["sha256sum", "--check", "--quiet", f"{archive.name}.sha256"], cwd=out)
    return archive


@pytest.fixture(scope="session")
def bundle(bundle_archive, tmp_path_factory):
    """The bundle unpacked, every file checked against offline/SHA256SUMS."""
    target = tmp_path_factory.mktemp("unpacked")
    run(["tar", "-xzf", bundle_archive, "-C", target])
    (top,) = target.iterdir()
    run(["sha256sum", "--check", "--quiet", "offline/SHA256SUMS"], cwd=top)
    return top


def load_builder(bundle):
    spec = importlib.util.spec_from_file_location("builder", bundle / "offline" / "bundle.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    return builder


@pytest.fixture(scope="session")
def minimal_debian():
    """A minimal Debian of this machine's release (debootstrap --variant=minbase, as the
    debian:12 image), made once and kept in build/ like the bundle's download cache."""
    release = platform.freedesktop_os_release()["VERSION_CODENAME"]
    kept = ROOT / "build" / "bundle-cache" / f"debian-{release}-minbase"
    if not kept.is_dir():
        if shutil.which("debootstrap") is None:
            pytest.fail("debootstrap is missing: make test-packages installs it")
        making = kept.with_name(kept.name + ".partial")
        shutil.rmtree(making, ignore_errors=True)
        making.parent.mkdir(parents=True, exist_ok=True)
        run(["debootstrap", "--variant=minbase", release, making, "http://deb.debian.org/debian"])
        making.rename(kept)
    return kept


@pytest.mark.bundle
def test_the_bundle_holds_runtime_wheels_fonts_and_debs_but_no_test_tools(bundle):
    wheels = {canonicalize_name(w.name.split("-")[0]) for w in bundle.glob("offline/wheels/*.whl")}
    assert set(locked("runtime")) | set(locked("build")) | {"inspect-app"} == wheels
    fonts = {f.name for f in bundle.glob("offline/fonts/*.otf")}
    assert {"FandolFang-Regular.otf", "FandolSong-Bold.otf", "FandolKai-Regular.otf"} <= fonts
    debs = {d.name.split("_")[0] for d in bundle.glob("offline/debs/*.deb")}
    assert set(BUNDLE_DEBS) <= debs
    assert "libc6" not in debs  # a minimal Debian 12 has it
    assert bundle.joinpath("offline/PLATFORM").read_text().split("\n")[0] == (
        f"cp{sys.version_info[0]}{sys.version_info[1]}-{os.uname().machine}"
    )


@pytest.mark.bundle
def test_the_wheel_carries_every_file_of_the_package_and_its_data_folders_but_no_fonts(bundle):
    (wheel,) = bundle.glob("offline/wheels/inspect_app-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    tracked = run(["git", "ls-files", "inspect_app", "templates", "static", "checklists"], cwd=ROOT)
    expected = {
        name if name.startswith("inspect_app/") else f"inspect_app/_data/{name}"
        for name in tracked.stdout.split()
    }
    assert expected - inside == set()
    assert not [name for name in inside if "/fonts/" in name or name.endswith(".otf")]


INSTALLED_CHECK = """
import json, re, sys
import inspect_app
from inspect_app import config, create_app
from inspect_app.models import Checklist, Notice

app = create_app()
client = app.test_client()
page = client.get("/login").get_data(as_text=True)
assets = re.findall(r'(?:href|src)="(/static/[^"?]+)', page)
token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
signed_in = client.post(
    "/login", data={"username": "duchaban", "password": "Demo2026", "csrf_token": token}
)
# the demo's published password must be changed first (the policy's word list is package data)
form = client.get("/account/password").get_data(as_text=True)
token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
new = {"current": "Demo2026", "password": "Installed-2027x", "confirm": "Installed-2027x"}
weak = client.post("/account/password", data={**new, "password": "Dragon2026!", "confirm": "Dragon2026!", "csrf_token": token})
changed = client.post("/account/password", data={**new, "csrf_token": token})
draft = Notice.select().where(Notice.status != "issued").first()
pdf = client.get(f"/notices/{draft.id}/pdf")
open(sys.argv[1], "wb").write(pdf.data)
print(json.dumps({
    "package": inspect_app.__file__,
    "installed": config.INSTALLED,
    "healthz": client.get("/healthz").status_code,
    "login_page": "登录" in page,
    "assets": {url: len(client.get(url).data) for url in assets},
    "signed_in": signed_in.status_code,
    "password": [weak.status_code, "密码过于常见" in weak.get_data(as_text=True), changed.status_code],
    "checklists": Checklist.select().count(),
    "pdf": [pdf.status_code, pdf.mimetype],
}))
"""


@pytest.fixture(scope="session")
def installed(bundle, tmp_path_factory):
    """The project's wheel and the locked runtime wheels in a fresh venv, from the bundle only,
    set up with demo data; (venv, a working folder with no sources, its environment)."""
    home = tmp_path_factory.mktemp("installed")
    venv, wheels, locks = home / "venv", bundle / "offline" / "wheels", bundle / "requirements"
    env = clean_env(home, INSPECT_INSTANCE_PATH=str(home / "instance"))
    run([sys.executable, "-m", "venv", str(venv)], env=env)
    pip = [venv / "bin" / "pip", "install", "--quiet", "--no-index", "--find-links", wheels]
    run(
        [*pip, "--require-hashes", "-r", locks / "build.lock", "-r", locks / "runtime.lock"],
        env=env,
    )
    run([*pip, "--no-deps", next(wheels.glob("inspect_app-*.whl"))], env=env)
    work = home / "work"  # no sources here: everything must come from the installed wheel
    work.mkdir()
    setup = run([venv / "bin" / "inspect-app", "setup"], cwd=work, env=env)
    assert "已创建演示账号" in setup.stdout
    return venv, work, env


@pytest.mark.bundle
def test_an_installed_wheel_serves_pages_and_renders_notices_away_from_the_sources(
    installed, bundle, tmp_path
):
    venv, work, env = installed
    check = tmp_path / "check.py"
    check.write_text(INSTALLED_CHECK)
    fonts = {**env, "INSPECT_FONT_DIR": str(bundle / "offline" / "fonts")}
    done = run([venv / "bin" / "python", check, tmp_path / "notice.pdf"], cwd=work, env=fonts)
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["package"].startswith(str(venv)) and seen["installed"]
    assert seen["healthz"] == 200 and seen["login_page"] and seen["signed_in"] == 303
    assert seen["password"] == [422, True, 303]
    assert len(seen["assets"]) >= 3 and all(seen["assets"].values()), seen["assets"]
    assert seen["checklists"] == len(list((ROOT / "checklists").glob("*.yaml")))
    assert seen["pdf"] == [200, "application/pdf"]
    used = embedded_fonts((tmp_path / "notice.pdf").read_bytes())
    assert any("FandolFang" in name for name in used), used


@pytest.mark.bundle
def test_an_installed_wheel_without_fonts_says_where_it_looked_and_how_to_point_it(installed):
    venv, work, env = installed
    refused = subprocess.run(
        [
            venv / "bin" / "python",
            "-c",
            "from inspect_app.notices import render; render.Renderer()",
        ],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    )
    assert refused.returncode != 0
    assert "inspect_app/_data/static/fonts/fandol" in refused.stderr
    assert "INSPECT_FONT_DIR" in refused.stderr


OFFLINE_INSTALL = r"""set -u
debian=$1 archive=$2 out=$3 root=$3/root
ip link set lo up
# This mount namespace's own: a fresh copy of the minimal Debian in memory, gone when it ends.
mkdir -p "$root" && mount -t tmpfs -o size=4g tmpfs "$root"
cp -a "$debian/." "$root/" && mount -t proc proc "$root/proc"
tar -xzf "$archive" -C "$root/opt"
python3 -c 'import socket; socket.create_connection(("deb.debian.org", 80), timeout=5)' 2>/dev/null \
  && { echo "the namespace has network"; exit 1; }
in_root="chroot $root /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8"
# A minimal Debian has no make: the one package installed by hand (docs/offline-install.md).
$in_root bash -c 'cd /opt/inspect_app-* && dpkg -i offline/debs/make_*.deb' >"$out/make.log" 2>&1 \
  || { echo "dpkg -i make failed"; exit 1; }
setsid $in_root bash -c 'cd /opt/inspect_app-* && exec make run' >"$out/run.log" 2>&1 &
server=$!
# GET on the server's port, over HTTPS or plain HTTP (the server's own certificate is not checked)
get() {
  python3 -c '
import ssl, sys, urllib.request
for scheme in ("https", "http"):
    try:
        answer = urllib.request.urlopen(f"{scheme}://127.0.0.1:5000{sys.argv[1]}", timeout=2,
                                        context=ssl._create_unverified_context())
        print(answer.read().decode() if sys.argv[1] == "/healthz" else answer.status)
        break
    except Exception:
        pass
else:
    sys.exit(1)
' "$1"
}
for _ in $(seq 1 600); do
  get /healthz && break
  kill -0 $server 2>/dev/null || { echo "make run ended"; break; }
  sleep 1
done
get /login
kill -TERM -- -$server
wait $server
cp "$root/var/lib/dpkg/status" "$out/dpkg-status"
ls "$root"/opt/inspect_app-*/.venv/lib/python3*/site-packages >"$out/site-packages"
ls "$root"/opt/inspect_app-*/instance/uploads/notices >"$out/notices"
"""


@pytest.mark.bundle
@needs_unshare
def test_the_bundle_installs_and_serves_on_a_minimal_debian_with_no_network(
    bundle_archive, minimal_debian, tmp_path
):
    """Unpacked on a fresh minimal Debian inside `unshare -n`, the bundle's `make run` installs
    Python, the system packages, the fonts and the wheels from its own files, and serves."""
    script = tmp_path / "offline.sh"
    script.write_text(OFFLINE_INSTALL)
    done = subprocess.run(
        ["unshare", "--net", "--mount", "bash", script, minimal_debian, bundle_archive, tmp_path],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        timeout=900,
    )
    log = "".join(
        path.read_text(errors="replace")
        for path in (tmp_path / "make.log", tmp_path / "run.log")
        if path.exists()
    )
    lines = done.stdout.splitlines()
    assert '"status":"ok"' in done.stdout and lines[-1] == "200", done.stdout + done.stderr + log
    assert "--no-index --find-links offline/wheels" in log
    status = (tmp_path / "dpkg-status").read_text()
    for package in BUNDLE_DEBS:
        assert re.search(
            rf"^Package: {re.escape(package)}\nStatus: install ok installed", status, re.M
        )
    site = (tmp_path / "site-packages").read_text().split()
    names = {canonicalize_name(name.split("-")[0]) for name in site if name.endswith(".dist-info")}
    assert "weasyprint" in names and not TEST_TOOLS & names
    # setup's demo issued a notice: Pango, fontconfig and the Fandol fonts work there
    assert (tmp_path / "notices").read_text().split()


@pytest.mark.bundle
def test_the_bundle_assumes_no_more_than_a_minimal_debian_has(bundle, minimal_debian):
    computed = load_builder(bundle).minimal_status_here()
    assumed = set(re.findall(r"^Package: (\S+)", computed, re.M))
    present = set(
        re.findall(r"^Package: (\S+)", (minimal_debian / "var/lib/dpkg/status").read_text(), re.M)
    )
    assert {"libc6", "dpkg", "apt", "bash"} <= assumed
    assert assumed <= present, f"not on a minimal Debian: {sorted(assumed - present)}"


@pytest.mark.bundle
@needs_unshare
def test_a_dry_run_of_the_bundle_debs_fails_when_one_is_missing(bundle, tmp_path):
    builder = load_builder(bundle)
    status = tmp_path / "status"
    status.write_text(builder.minimal_status_here())

    def simulate(folder):
        return subprocess.run(
            ["unshare", "-n", folder / "apt-local.sh", "-s", "-o", f"Dir::State::status={status}"]
            + ["install", "--no-install-recommends", *BUNDLE_DEBS],
            capture_output=True,
            text=True,
        )

    done = simulate(bundle / "offline")
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(BUNDLE_DEBS) <= set(re.findall(r"^Inst (\S+)", done.stdout, re.M))

    short = tmp_path / "short"
    (short / "debs").mkdir(parents=True)
    shutil.copy(bundle / "offline" / "apt-local.sh", short)
    for deb in (bundle / "offline" / "debs").glob("*.deb"):
        if not deb.name.startswith("libglib2.0-0_"):
            (short / "debs" / deb.name).symlink_to(deb)
    builder.write_apt_index(short / "debs")
    failed = simulate(short)
    assert failed.returncode != 0 and "libglib2.0-0" in failed.stdout + failed.stderr
