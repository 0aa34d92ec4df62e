"""Types of the C row scanner (_rowscan.c)."""

def json_rows(data: bytes, in_string: bool, escaped: bool, after_sep: bool, rows: int,
              keep: int = -1, /) -> tuple[bool, bool, bool, int, int]: ...
