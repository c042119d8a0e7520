"""Which runs the Compare page opens with: the default pair, and a shared `?runs=ID,ID` link.

Pure: the listing (RunRepository.list_runs) in, run ids out; the page keeps them in its widgets.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, urlsplit, urlunsplit

import pandas as pd

from benchcore.results import frames

RUNS_PARAM = "runs"
MAX_LINK_RUNS = 20  # a hand-edited link with hundreds of ids is cut here, not rendered


def default_comparison(runs: pd.DataFrame) -> list[str]:
    """[A, B]: the newest run and the newest earlier run with the same workload (frames.workloads), oldest first.
    Runs that measured nothing (status failed: every tier failed or was cancelled) are passed over while any
    other run exists. Just [newest] when no earlier run has its workload; [] without runs."""
    if runs.empty:
        return []
    ordered = runs.sort_values(["started_at", "run_id"], ascending=False)
    measured = ordered[ordered["status"].astype(str) != "failed"]
    pool = measured if not measured.empty else ordered
    keys = frames.workloads(pool)
    ids = pool["run_id"].astype(str).tolist()
    newest = ids[0]
    earlier = next((r for r in ids[1:] if keys[r] == keys[newest]), None)
    return [earlier, newest] if earlier is not None else [newest]


def parse_runs_param(value: str | Sequence[str] | None, known: Sequence[str]) -> tuple[list[str], list[str]]:
    """A `runs` query parameter ('ID,ID', or repeated) -> (stored run ids in the link's order, what matched none).
    An id may be shortened to any unique start of one."""
    if value is None:
        return [], []
    parts = [value] if isinstance(value, str) else list(value)
    wanted = [p.strip() for part in parts for p in part.split(",") if p.strip()][:MAX_LINK_RUNS]
    found: list[str] = []
    unknown: list[str] = []
    for item in wanted:
        matches = [r for r in known if r == item] or [r for r in known if r.startswith(item)]
        if len(matches) == 1:
            if matches[0] not in found:
                found.append(matches[0])
        else:
            unknown.append(item)
    return found, unknown


def link_ids(selected: Sequence[str], a: str | None, b: str | None) -> list[str]:
    """The link's order: A, B, then the other selected runs (a link opens A against B)."""
    first = [r for r in (a, b) if r is not None and r in selected]
    return list(dict.fromkeys([*first, *selected]))


def comparison_link(url: str | None, ids: Sequence[str], page: str = "compare") -> str:
    """'http://host:8501/compare?runs=ID,ID' from the address the browser shows (with or without the page's
    path, which Streamlit may or may not trim); the page's own path without one."""
    parts = urlsplit(url or "")
    path = parts.path.rstrip("/")
    if path.rsplit("/", 1)[-1] != page:
        path = f"{path}/{page}"
    query = f"{RUNS_PARAM}=" + ",".join(quote(r, safe="") for r in ids)
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))
