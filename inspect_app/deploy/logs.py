"""Logging of the server processes.

Every process writes to its standard output and error: on a terminal (`make run`) that is the
screen; under systemd it is the journal, which stamps, rotates (SystemMaxUse, MaxRetentionSec),
compresses and keeps each line with its unit and process, and which several processes can write
to at once. Rotating files would need one writer per file: gunicorn's workers share the access
log, and a RotatingFileHandler in each would roll the file over under the others.
"""

import logging

# WeasyPrint reports each step of every render at INFO (weasyprint.progress), eight lines per
# notice. Its WARNINGs stay: the renderer listens for the `.notdef` glyph warning on the
# `weasyprint` logger to refuse a document with a character no font has (notices/render.py).
QUIET = {"weasyprint": logging.WARNING, "fontTools": logging.WARNING}


def quiet_libraries():
    for name, level in QUIET.items():
        logging.getLogger(name).setLevel(level)


def configure(process):
    """A process of ours other than gunicorn's: INFO and up on standard error, tagged."""
    logging.basicConfig(
        level=logging.INFO,
        format=f"[{process}] %(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    quiet_libraries()
