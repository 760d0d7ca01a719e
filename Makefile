# Two commands do all set-up on a fresh Debian 12 machine:
#   make run    environment, system packages, database with demo data, production server
#   make test   the same set-up, then lint and the whole suite (SQLite and PostgreSQL, browser)
#   make bundle the offline installation bundle: unpacked on a machine without network, make run works
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export PORT
# An unpacked offline bundle (make bundle) has offline/wheels, offline/debs and offline/fonts:
# everything is then installed from there and nothing reaches the network.
OFFLINE := $(wildcard offline/wheels)
PIP_FROM := $(if $(OFFLINE),--no-index --find-links offline/wheels)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# What the wheels of an offline bundle are for (offline/PLATFORM), e.g. cp311-x86_64.
PY_PLATFORM = $(PYTHON) -c 'import platform, sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}-{platform.machine()}")'
# The uv that make lock writes requirements/*.lock with.
UV_VERSION := 0.13.8

# Pango/HarfBuzz for WeasyPrint (libharfbuzz-subset0 keeps CJK PDFs fast), CJK fonts for pages and PDFs
# (fonts-hanazono: CJK Extensions B–F, rare characters in people's names, the last fallback).
RUN_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig fonts-noto-cjk fonts-hanazono
# The tests start their own PostgreSQL and drive Debian's Chromium; pdftoppm checks PDFs;
# certutil (libnss3-tools) makes that Chromium trust the app's CA, as an installed tablet does;
# debootstrap makes the minimal Debian 12 that the offline bundle is installed into; faketime runs
# the suite on another date.
TEST_PACKAGES := postgresql chromium poppler-utils libnss3-tools debootstrap faketime

# Installs the Debian packages in $(1) that are missing; needs root for that, says what to run otherwise.
# In an offline bundle they come from its own local repository (offline/apt-local.sh), not the network.
ifneq ($(OFFLINE),)
APT_INSTALL := offline/apt-local.sh install -y -qq --no-install-recommends
APT_ADVICE := sudo offline/apt-local.sh install -y --no-install-recommends
else
APT_INSTALL := apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends
APT_ADVICE := sudo apt-get update && sudo apt-get install -y --no-install-recommends
endif
define ensure_packages
	@missing=""; \
	for p in $(1); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "缺少系统软件包:$$missing" >&2; \
	    echo "请以 root 身份执行以下命令后重试：" >&2; \
	    echo "  $(APT_ADVICE)$$missing" >&2; \
	    exit 1; \
	  fi; \
	  echo "安装系统软件包:$$missing"; \
	  $(APT_INSTALL) $$missing || { \
	    [ -z "$(OFFLINE)" ] || echo "无法从离线安装包安装:$$missing（离线安装包只含运行所需的软件包，运行测试需联网；其他原因见上面 apt 的提示）。" >&2; \
	    exit 1; }; \
	fi
endef

.PHONY: run test test-dates lint bench fonts system-packages test-packages packages python-check lock bundle clean

# Fandol (仿宋/宋/黑/楷, GPL with font exception) is the only free simplified 仿宋 on Debian. It ships
# inside texlive-lang-chinese; we take the .otf files out of the .deb instead of installing 265 MB of TeX.
FONT_DIR := static/fonts/fandol
FANDOL := FandolFang-Regular FandolSong-Regular FandolSong-Bold FandolHei-Regular FandolHei-Bold FandolKai-Regular

run: system-packages fonts $(VENV)/.runtime
	$(BIN)/inspect-app setup
	exec $(BIN)/gunicorn --config python:inspect_app.gunicorn_conf "inspect_app:create_app()"

# The suite must pass whatever the machine's date: a second SQLite run under faketime proves it.
# Building the offline bundle downloads over TLS, which a faked clock past the registries'
# certificates cannot do: those tests (marker `bundle`) run only on the real date.
FAR_DATE := 2030-06-15 09:00
OTHER_DATES := 2027-01-04 2027-10-08 2030-06-15

test: system-packages fonts test-packages $(VENV)/.test
	$(BIN)/ruff check inspect_app tests offline setup.py $(wildcard bench)
	$(BIN)/pytest
	faketime '$(FAR_DATE)' $(BIN)/pytest --db sqlite -q -p no:cacheprovider -m "not bundle"

test-dates: system-packages fonts test-packages $(VENV)/.test
	for day in $(OTHER_DATES); do faketime "$$day 09:00" $(BIN)/pytest --db sqlite -q -p no:cacheprovider -m "not bundle" || exit 1; done

lint: $(VENV)/.test
	$(BIN)/ruff check inspect_app tests offline setup.py $(wildcard bench)
	$(BIN)/ruff format --check inspect_app tests offline setup.py $(wildcard bench)

bench: system-packages fonts $(VENV)/.runtime
	$(BIN)/python bench/autosave.py --quick
	$(BIN)/python bench/notices.py --quick

python-check:
	@command -v $(PYTHON) >/dev/null || $(MAKE) --no-print-directory packages PKGS="python3 python3-venv"
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "需要 Python 3.11 或更高版本（当前：$$($(PYTHON) --version 2>&1)）" >&2; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || $(MAKE) --no-print-directory packages PKGS=python3-venv

packages:
	$(call ensure_packages,$(PKGS))

system-packages: python-check
	$(call ensure_packages,$(RUN_PACKAGES))

test-packages:
	$(call ensure_packages,$(TEST_PACKAGES))

fonts: $(FONT_DIR)/.installed

# Already there (copied by hand, say) → done; in an offline bundle → from offline/fonts/;
# otherwise → out of the texlive-lang-chinese .deb.
$(FONT_DIR)/.installed:
	@mkdir -p $(FONT_DIR); \
	have() { for f in $(FANDOL); do [ -s "$$1/$$f.otf" ] || return 1; done; }; \
	if have $(FONT_DIR); then touch $@; exit 0; fi; \
	if have offline/fonts; then cp $(addprefix offline/fonts/,$(addsuffix .otf,$(FANDOL))) $(FONT_DIR)/ && touch $@; exit; fi; \
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	echo "下载 Fandol 公文字体（texlive-lang-chinese）…" && \
	( cd "$$tmp" && apt-get download texlive-lang-chinese >/dev/null 2>"$$tmp/apt.log" ) || \
	{ cat "$$tmp/apt.log" >&2; \
	  echo "无法下载 texlive-lang-chinese（其中有 Fandol 公文字体）。" >&2; \
	  echo "联网的机器：先执行 apt-get update，再重新执行 make run。" >&2; \
	  echo "没有网络的机器：请用离线安装包（在联网机器上执行 make bundle 生成，见 docs/offline-install.md），" >&2; \
	  echo "  或把以下 6 个文件复制到 $(CURDIR)/$(FONT_DIR)/ 后重新执行 make run：" >&2; \
	  echo "  $(addsuffix .otf,$(FANDOL))" >&2; \
	  echo "  （它们在 texlive-lang-chinese 软件包的 usr/share/texlive/texmf-dist/fonts/opentype/public/fandol/ 中）" >&2; \
	  exit 1; } && \
	dpkg-deb --fsys-tarfile "$$tmp"/texlive-lang-chinese_*.deb | tar -x -C "$$tmp" --wildcards --no-anchored '*/fandol/*.otf' && \
	for f in $(FANDOL); do cp "$$(find "$$tmp" -name "$$f.otf" | head -1)" $(FONT_DIR)/ || exit 1; done && \
	touch $@

# Runtime packages only, exactly as locked (versions and hashes), then the project itself.
# In an offline bundle the wheels must match this Python and machine (offline/PLATFORM).
$(VENV)/.runtime: pyproject.toml requirements/build.lock requirements/runtime.lock | python-check
	@[ -z "$(OFFLINE)" ] || [ "$$(head -1 offline/PLATFORM)" = "$$($(PY_PLATFORM))" ] || \
	{ echo "离线安装包中的 Python 软件包是为 $$(head -1 offline/PLATFORM) 生成的，本机是 $$($(PY_PLATFORM))。请在与本机相同的 Debian 版本、Python 版本和处理器架构的联网机器上重新执行 make bundle。" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(PIP_FROM) --require-hashes -r requirements/build.lock
	$(BIN)/pip install --quiet $(PIP_FROM) --require-hashes -r requirements/runtime.lock
	$(BIN)/pip install --quiet $(PIP_FROM) --no-deps --no-build-isolation -e .
	touch $@

# The test tools on top (pytest, hypothesis, Playwright, ruff, pypdf); never in production.
$(VENV)/.test: $(VENV)/.runtime requirements/test.lock
	@[ -z "$(OFFLINE)" ] || { echo "离线安装包只含运行所需的软件包，运行测试需联网。" >&2; exit 1; }
	$(BIN)/pip install --quiet --require-hashes -r requirements/test.lock
	touch $@

# requirements/*.lock from pyproject.toml: exact versions with the hashes of every file PyPI has
# for them. Existing pins are kept unless UPGRADE=1 (uv: see "Dependencies and why" in README).
LOCK := $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock: | python-check
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet 'uv==$(UV_VERSION)'
	$(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], "pip>=23,<27", sep="\n")' \
	  | $(LOCK) - -o requirements/build.lock
	$(LOCK) pyproject.toml -o requirements/runtime.lock
	$(LOCK) pyproject.toml --extra test -c requirements/runtime.lock -o requirements/test.lock

# dist/inspect_app-bundle-<version>.tar.gz for a machine without network (docs/offline-install.md):
# the project, the locked runtime wheels, the fonts, and the Debian packages a minimal Debian 12
# lacks for RUN_PACKAGES, Python and make. Built on a machine with network, same Debian and CPU.
DIST ?= dist
bundle: system-packages fonts $(VENV)/.runtime
	$(BIN)/python offline/bundle.py --out $(DIST) --fonts $(FONT_DIR) --debs "$(RUN_PACKAGES) python3 python3-venv make"

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache build
