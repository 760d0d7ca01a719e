"""HTML → PDF with WeasyPrint, locked down: only the app's own fonts and stylesheet, no network.

WeasyPrint costs ~0.9 s to import and loads fonts per FontConfiguration, so a process keeps one
renderer and reuses it. The renderer refuses to run without the 公文 fonts rather than print
tofu boxes, and refuses a document whose text has a character no installed font can show.
"""

import logging
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

from inspect_app import config
from inspect_app.errors import ServiceError

FONT_DIR = config.font_dir()
STYLE_DIR = config.STATIC_DIR / "notices"

# family name used in the stylesheet → file in FONT_DIR
FONT_FILES = {
    ("FandolFang", "normal"): "FandolFang-Regular.otf",
    ("FandolSong", "normal"): "FandolSong-Regular.otf",
    ("FandolSong", "bold"): "FandolSong-Bold.otf",
    ("FandolHei", "normal"): "FandolHei-Regular.otf",
    ("FandolHei", "bold"): "FandolHei-Bold.otf",
    ("FandolKai", "normal"): "FandolKai-Regular.otf",
}
# Fandol covers GB2312 only; rare characters in names (喆, 堃, 珺…) fall back to Noto CJK SC,
# and those beyond it — CJK Extensions B to F, common in people's names (𠀀, 𪚥) — to HanaMin
# (Debian's fonts-hanazono), the last in every stack of gbt9704.css.
FALLBACK_FAMILIES = ("Noto Serif CJK SC", "Noto Sans CJK SC")
RARE_FAMILIES = ("HanaMinA", "HanaMinB")


class RenderRefused(ServiceError):
    """The document cannot be rendered faithfully; the message says why, in Chinese."""

    status = 409


class FetchRefused(Exception):
    pass


def missing_fonts():
    """Names of the 公文 fonts that are not installed (empty when all are)."""
    missing = [name for name in FONT_FILES.values() if not (FONT_DIR / name).is_file()]
    listed = _installed_families()
    if not any(family in listed for family in FALLBACK_FAMILIES):
        missing.append(" / ".join(FALLBACK_FAMILIES) + "（fonts-noto-cjk）")
    if not all(family in listed for family in RARE_FAMILIES):
        missing.append(" / ".join(RARE_FAMILIES) + "（fonts-hanazono，生僻字）")
    return missing


def _installed_families():
    """The font families fontconfig knows, one name per item."""
    import subprocess

    try:
        listed = subprocess.run(
            ["fc-list", ":", "family"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {name.strip() for line in listed.splitlines() for name in line.split(",")}


def font_face_css():
    rules = []
    for (family, weight), name in FONT_FILES.items():
        url = (FONT_DIR / name).as_uri()
        rules.append(
            f'@font-face {{ font-family: "{family}"; font-weight: {weight}; src: url("{url}"); }}'
        )
    return "\n".join(rules)


class _Fetcher:
    """Builds WeasyPrint's URL fetcher that serves only files under the allowed folders and data:
    URLs we made ourselves (the QR code). Everything else is refused and remembered."""

    def __init__(self, allowed_dirs):
        from weasyprint.urls import URLFetcher, URLFetcherResponse

        allowed = [Path(d).resolve() for d in allowed_dirs]
        self.refused = []
        outer = self

        class LockedFetcher(URLFetcher):
            def fetch(self, url, headers=None):
                scheme = url.split(":", 1)[0].lower()
                if scheme == "data":
                    return super().fetch(url, headers)
                if scheme == "file":
                    path = Path(unquote(urlsplit(url).path)).resolve()
                    if any(path.is_relative_to(root) for root in allowed) and path.is_file():
                        return URLFetcherResponse(url, path.read_bytes())
                outer.refused.append(url)
                raise FetchRefused(f"refused to fetch {url}")

        self.fetcher = LockedFetcher(allowed_protocols={"file", "data"}, allow_redirects=False)


class _GlyphWatch(logging.Handler):
    """Catches WeasyPrint's warning about characters without a glyph (they would print as boxes)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.characters = []

    def emit(self, record):
        if "notdef" in str(record.msg) and record.args:
            self.characters.append(f"“{record.args[0]}”（U+{record.args[1]:04X}）")


class Renderer:
    """One per process. `pdf(html)` returns PDF bytes; thread-safe (renders one at a time)."""

    def __init__(self):
        missing = missing_fonts()
        if missing:
            raise RenderRefused(
                "缺少公文字体："
                + "、".join(missing)
                + f"（字体目录 {FONT_DIR}，可用 INSPECT_FONT_DIR 另指）。"
                "源码目录中执行 make fonts 安装，无网络时从离线安装包的 offline/fonts/ 复制到该目录，"
                "见 docs/offline-install.md。"
            )
        import weasyprint
        from weasyprint.text.fonts import FontConfiguration

        self._weasyprint = weasyprint
        self._font_config = FontConfiguration()
        self._lock = threading.Lock()
        self._stylesheets = {}
        self.last_refused = []

    def stylesheet(self, css_text):
        """A parsed stylesheet, cached by its text (font faces are loaded once per process)."""
        sheet = self._stylesheets.get(css_text)
        if sheet is None:
            fetch = _Fetcher([FONT_DIR, STYLE_DIR])
            sheet = self._weasyprint.CSS(
                string=css_text,
                font_config=self._font_config,
                url_fetcher=fetch.fetcher,
                base_url=STYLE_DIR.as_uri() + "/",
            )
            if fetch.refused:
                raise RenderRefused("样式表引用了不允许的资源：" + "、".join(fetch.refused))
            self._stylesheets[css_text] = sheet
        return sheet

    def pdf(self, html, css_text):
        """(PDF bytes, page count)."""
        with self._lock:
            sheet = self.stylesheet(css_text)
            fetch = _Fetcher([FONT_DIR, STYLE_DIR])
            watch = _GlyphWatch()
            logger = logging.getLogger("weasyprint")
            logger.addHandler(watch)
            try:
                document = self._weasyprint.HTML(
                    string=html, url_fetcher=fetch.fetcher, base_url=STYLE_DIR.as_uri() + "/"
                ).render(stylesheets=[sheet], font_config=self._font_config)
                pdf = document.write_pdf()
                pages = len(document.pages)
            except Exception as error:  # e.g. an admin's style="font-size: 1e308px" in a template
                logging.getLogger(__name__).warning("render failed: %r", error)
                raise RenderRefused(
                    f"文档无法排版（{type(error).__name__}: {error}），"
                    "请检查公文模板中的 HTML 和样式（如字号、尺寸）后重试。"
                ) from error
            finally:
                logger.removeHandler(watch)
            self.last_refused = fetch.refused
            if watch.characters:
                raise RenderRefused(
                    "文档中有已安装字体都无法显示的字符"
                    + "、".join(sorted(set(watch.characters)))
                    + "，为避免打印出空白方框已停止生成，请修改相关文字。"
                )
            return pdf, pages


_renderer = None
_renderer_lock = threading.Lock()


def renderer():
    global _renderer
    with _renderer_lock:
        if _renderer is None:
            _renderer = Renderer()
        return _renderer
