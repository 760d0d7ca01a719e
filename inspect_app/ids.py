"""Record ids typed or posted by users: ASCII digits within the database's integer range, or None."""

MAX_ID = 2**63 - 1


def parse_id(value):
    text = str(value if value is not None else "").strip()
    # The length first: int() refuses strings of more than 4,300 digits with a ValueError.
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > len(str(MAX_ID)):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def parse_ids(values):
    """Distinct valid ids in the order given; the invalid ones dropped (the caller checks counts)."""
    found = []
    for value in values:
        number = parse_id(value)
        if number is not None and number not in found:
            found.append(number)
    return found


def bad_ids(values):
    """Whether any non-empty value is not a valid id."""
    return any(str(v).strip() and parse_id(v) is None for v in values)
