"""Free text that users type has a maximum length in every field, checked in its service.

Each service names the field and the limit in its message (整改措施不能超过 4000 字) and refuses
the whole request: nothing is cut short silently and nothing is saved. The limits follow the
paper the text ends up on: a name or title fits a line, a reason or note a paragraph, a report or
the measures of a task a page. tests/test_security.py posts an over-long value to every field.
"""

NAME = 100  # unit names (titles of rounds and tasks: 200)
REASON = 1000  # why something is sent back, reopened or dismissed
NOTE = 2000  # notes, decisions, descriptions, measures of a finding
REPORT = 4000  # progress reports (整改进展) and the measures of a task (整改措施)
NOTICE_TEXT = 20_000  # the State Council's holiday notice, pasted whole (about 1,500 字)


def too_long(value, label, maximum):
    """The message for `value` beyond `maximum` characters, or None."""
    if len(value) > maximum:
        return f"{label}不能超过 {maximum} 字（现有 {len(value)} 字）"
    return None
