"""The Environment record as plain data (the codec's part for the run's environment); reads what version 1 stored.

Tolerant on the way in: an older or foreign document may lack fields or hold them in another shape, and the
run must still load, so each field has its own reader that falls back to "unknown" rather than failing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from benchcore.models import EmbeddedPlacement, Environment, ServerEnvironment


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError("text expected")
    return value


def _whole(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError("whole number expected")
    return value


def _real(value: Any) -> float | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise TypeError("number expected")
    return None if value is None else float(value)


def _cpus(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or any(isinstance(c, bool) or not isinstance(c, int) for c in value):
        raise TypeError("list of CPU numbers expected")
    return tuple(value)


def _cpu_list(value: tuple[int, ...] | None) -> list[int] | None:
    return None if value is None else list(value)


def _packages(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise TypeError("package versions expected")
    return {str(k): v for k, v in value.items()}


def _server_from_dict(value: Any) -> ServerEnvironment:
    if not isinstance(value, Mapping):
        raise TypeError("server expected")
    placement = None
    if "cpu_affinity" in value or "pinned_cpus" in value:
        placement = EmbeddedPlacement(cpu_affinity=_cpus(value.get("cpu_affinity")),
                                      pinned_cpus=_cpus(value.get("pinned_cpus")))
    return ServerEnvironment(kind=_text(value.get("kind")) or "unknown", address=_text(value.get("address")),
                             version=_text(value.get("version")), placement=placement)


def _server_to_dict(server: ServerEnvironment) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": server.kind, "address": server.address, "version": server.version}
    if server.placement is not None:
        out["cpu_affinity"] = _cpu_list(server.placement.cpu_affinity)
        out["pinned_cpus"] = _cpu_list(server.placement.pinned_cpus)
    return out


def _servers(value: Any) -> dict[str, ServerEnvironment]:
    if not isinstance(value, Mapping):
        raise TypeError("servers expected")
    return {str(name): _server_from_dict(server) for name, server in value.items()}


def _native(value: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(e, Mapping) for e in value):
        raise TypeError("list of native figures expected")
    return tuple(dict(e) for e in value)


def _same(value: Any) -> Any:
    return value


# Environment field -> (key in the document, to plain data, from plain data). The keys are the ones
# version 1 stored; a value of the wrong type is kept as it was, under `extra`.
_ENVIRONMENT: dict[str, tuple[str, Callable[[Any], Any], Callable[[Any], Any]]] = {
    "python": ("python", _same, _text),
    "python_version": ("python_version", _same, _text),
    "python_implementation": ("python_implementation", _same, _text),
    "os": ("os", _same, _text),
    "os_system": ("os_system", _same, _text),
    "os_release": ("os_release", _same, _text),
    "machine_arch": ("machine_arch", _same, _text),
    "hostname": ("hostname", _same, _text),
    "cpu_model": ("cpu_model", _same, _text),
    "cpu_count": ("cpu_count", _same, _whole),
    "cpu_affinity": ("cpu_affinity", _cpu_list, _cpus),
    "packages": ("packages", dict, _packages),
    "benchcore_version": ("benchcore", _same, _text),
    "servers": ("servers", lambda s: {name: _server_to_dict(v) for name, v in s.items()}, _servers),
    "client_cpu_affinity": ("client_cpu_affinity", _cpu_list, _cpus),
    "timer_overhead_ns": ("timer_overhead_ns", _same, _real),
    "native": ("native", lambda n: [dict(e) for e in n], _native),
    "progress_watched_pct": ("progress_watched_pct", _same, _real),
}


def environment_to_dict(env: Environment) -> dict[str, Any]:
    """Every field under its stored key, then the keys kept in `extra`."""
    out = {key: to_plain(getattr(env, name)) for name, (key, to_plain, _) in _ENVIRONMENT.items()}
    out.update(env.extra)
    return out


def environment_from_dict(data: Mapping[str, Any] | None) -> Environment:
    """What any version stored: missing keys get the defaults, unknown or ill-typed values go to `extra`."""
    data = data or {}
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    known = {key: name for name, (key, _, _) in _ENVIRONMENT.items()}
    for key, value in data.items():
        name = known.get(key)
        if name is None:
            extra[key] = value
            continue
        try:
            values[name] = _ENVIRONMENT[name][2](value)
        except (TypeError, ValueError):
            extra[key] = value
    return Environment(**values, extra=extra)
