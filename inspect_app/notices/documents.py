"""A notice as a printed document: GB/T 9704 HTML from templates/notices/document.pdf.html → PDF."""

import io
from functools import cache

import segno
from flask import render_template

from inspect_app.notices import render
from inspect_app.notices.kinds import attachments

VERSION_SPACE_PT = 440  # the 发文机关标志 must fit on one line of the 156 mm 版心 (442 pt)

# Invisible controls have no place in an official document: bidi overrides and isolates (U+202E
# turns "限期整改" around on the page while the text reads straight) and zero-width characters
# (which split words a search or a reader expects whole).
INVISIBLE_CONTROLS = dict.fromkeys(
    [0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF]
    + list(range(0x202A, 0x202F))
    + list(range(0x2066, 0x206A))
)


def printable(text):
    """`text` without bidi and zero-width controls."""
    return text.translate(INVISIBLE_CONTROLS)


@cache
def _stylesheets():
    base = render.font_face_css() + "\n" + (render.STYLE_DIR / "gbt9704.css").read_text()
    # 信函格式: no page number on page 1, and its red double line (thin over thick) 20 mm above
    # the bottom edge, 170 mm long: 15 mm below the 版心, drawn in the bottom margin
    letter = (
        base
        + """
@page :first {
  @bottom-right { content: none; }
  @bottom-center { content: ""; width: 170mm; height: 1.2pt; margin-top: 15mm;
                   vertical-align: top; border-top: 0.8pt solid device-cmyk(0 0.8 0.8 0);
                   border-bottom: 2.2pt solid device-cmyk(0 0.8 0.8 0); }
}"""
    )
    return {"file": base, "letter": letter}


def letterhead_size(text, layout):
    largest = 40 if layout == "file" else 30
    return max(16, min(largest, int(VERSION_SPACE_PT / max(len(text), 1))))


def qr_data_uri(url):
    return segno.make(url, error="m").png_data_uri(scale=4, border=0)


def html(texts, context, kind, *, number, date_cn, watermark=None, verify_url=None):
    """The document's HTML. `texts` come from wording.fill (title/main_to/copy_to may have been
    edited on the notice); `number` is the 发文字号 or a placeholder on drafts."""
    doc = {
        "layout": texts["layout"],
        "letterhead": texts["letterhead"],
        "letterhead_pt": letterhead_size(texts["letterhead"], texts["layout"]),
        "number": number,
        "title": texts["title"],
        "main_to": texts["main_to"],
        "body": texts["body"],
        "attachments": attachments(kind, context),
        "signature": texts["signature"],
        "date_cn": date_cn,
        "copy_to": texts["copy_to"],
        "printed_by": texts["printed_by"],
        "watermark": watermark,
        "verify_qr": qr_data_uri(verify_url) if verify_url else None,
    }
    return printable(render_template("notices/document.pdf.html", doc=doc))


def pdf(document_html, layout):
    """(PDF bytes, page count)."""
    return render.renderer().pdf(document_html, _stylesheets()[layout])


def zip_of(files):
    """A zip archive (bytes) of [(name, bytes)], stored rather than deflated: PDFs are compressed."""
    import zipfile

    buffer = io.BytesIO()
    used = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files:
            # two units may share a name (机关党支部 under two streets): unzipping must keep both
            stem, unique, n = name.removesuffix(".pdf"), name, 1
            while unique in used:
                n += 1
                unique = f"{stem}（{n}）.pdf"
            used.add(unique)
            archive.writestr(unique, data)
    return buffer.getvalue()
