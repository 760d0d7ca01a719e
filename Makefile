# Two commands do all set-up on a fresh Debian 12 machine:
#   make run    environment, system packages, database with demo data, production server
#   make test   the same set-up, then lint and the whole suite (SQLite and PostgreSQL, browser)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export PORT

# Pango/HarfBuzz for WeasyPrint (libharfbuzz-subset0 keeps CJK PDFs fast), CJK fonts for pages and PDFs.
RUN_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig fonts-noto-cjk
# The tests start their own PostgreSQL and drive Debian's Chromium; pdftoppm checks PDFs;
# certutil (libnss3-tools) makes that Chromium trust the app's CA, as an installed tablet does.
TEST_PACKAGES := postgresql chromium poppler-utils libnss3-tools

# Installs the Debian packages in $(1) that are missing; needs root for that, says what to run otherwise.
define ensure_packages
	@missing=""; \
	for p in $(1); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "缺少系统软件包:$$missing" >&2; \
	    echo "请以 root 身份执行以下命令后重试：" >&2; \
	    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends$$missing" >&2; \
	    exit 1; \
	  fi; \
	  echo "安装系统软件包:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

.PHONY: run test lint bench fonts system-packages test-packages packages python-check clean

# Fandol (仿宋/宋/黑/楷, GPL with font exception) is the only free simplified 仿宋 on Debian. It ships
# inside texlive-lang-chinese; we take the .otf files out of the .deb instead of installing 265 MB of TeX.
FONT_DIR := static/fonts/fandol
FANDOL := FandolFang-Regular FandolSong-Regular FandolSong-Bold FandolHei-Regular FandolHei-Bold FandolKai-Regular

run: system-packages fonts $(VENV)/.installed
	$(BIN)/inspect-app setup
	exec $(BIN)/gunicorn --config python:inspect_app.gunicorn_conf "inspect_app:create_app()"

test: system-packages fonts test-packages $(VENV)/.installed
	$(BIN)/ruff check inspect_app tests $(wildcard bench)
	$(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check inspect_app tests $(wildcard bench)
	$(BIN)/ruff format --check inspect_app tests $(wildcard bench)

bench: system-packages fonts $(VENV)/.installed
	$(BIN)/python bench/autosave.py --quick
	$(BIN)/python bench/notices.py --quick

python-check:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "需要 Python 3.11 或更高版本（当前：$$($(PYTHON) --version 2>&1)）" >&2; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || $(MAKE) --no-print-directory packages PKGS=python3-venv

packages:
	$(call ensure_packages,$(PKGS))

system-packages: python-check
	$(call ensure_packages,$(RUN_PACKAGES))

test-packages:
	$(call ensure_packages,$(TEST_PACKAGES))

fonts: $(FONT_DIR)/.installed

$(FONT_DIR)/.installed:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	echo "下载 Fandol 公文字体（texlive-lang-chinese）…" && \
	( cd "$$tmp" && apt-get download texlive-lang-chinese >/dev/null 2>"$$tmp/apt.log" ) || \
	{ cat "$$tmp/apt.log" >&2; echo "无法下载 texlive-lang-chinese（公文字体 Fandol）。请检查 apt 源（可先执行 apt-get update），或将 $(addsuffix .otf,$(FANDOL)) 放入 $(FONT_DIR)/ 后重试。" >&2; exit 1; } && \
	dpkg-deb --fsys-tarfile "$$tmp"/texlive-lang-chinese_*.deb | tar -x -C "$$tmp" --wildcards --no-anchored '*/fandol/*.otf' && \
	mkdir -p $(FONT_DIR) && \
	for f in $(FANDOL); do cp "$$(find "$$tmp" -name "$$f.otf" | head -1)" $(FONT_DIR)/ || exit 1; done && \
	touch $@

$(VENV)/.installed: pyproject.toml | python-check
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
