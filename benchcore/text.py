"""Characters that must not reach a terminal as typed: C0 controls but tab, DEL, C1, bidi overrides and isolates.

A label is refused when it holds one (RunSpec); text read back from storage or a server is escaped before it is
printed, since a database written by an older benchcore (or by hand) may hold anything.
"""

from __future__ import annotations

import re

# C0 but tab (labels always allowed it: it moves the cursor no further than a space would), DEL, C1; LRE RLE
# PDF LRO RLO and LRI RLI FSI PDI (the "Trojan Source" set); line and paragraph separators, which end a line.
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def first_unsafe(text: str) -> str | None:
    """The first character of text that UNSAFE matches, as U+XXXX; None if there is none."""
    match = UNSAFE.search(text)
    return None if match is None else f"U+{ord(match.group()):04X}"


def escape(text: str) -> str:
    r"""text with every UNSAFE character written as a Python escape (\n, \x1b, \u202e)."""
    return UNSAFE.sub(lambda m: repr(m.group())[1:-1], text)
