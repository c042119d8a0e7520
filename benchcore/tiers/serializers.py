"""How a cache tier turns a User into the bytes it stores and back: json, orjson, msgpack or pickle, padded or not.

Every serializer stores the same record, {"id", "name", "age"}, so a value's size is the serializer's own; with
spec.value_bytes = N a "pad" field of filler text brings each encoded value to N bytes (what a bigger record
costs to move and decode), and decoding reads it and throws it away. The hot path is one library call plus a
User(): `decode` is the library's own loads bound once, wrapped only where the library needs it.

pickle is loaded by an Unpickler that refuses every global (find_class): the record is plain dicts, strs and
ints, which need none, so a value planted in a shared cache under benchcore's keys cannot run code here.
"""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchcore.errors import ConfigError, TierUnavailable
from benchcore.models import User
from benchcore.spec import SERIALIZERS

__all__ = ["SERIALIZERS", "Serializer", "for_spec", "serializer"]
PAD = "pad"


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a cached value")


def _pickle_loads(raw: bytes) -> Any:
    return _NoGlobals(io.BytesIO(raw)).load()


def _pickle_dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=5)


def _json_dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _library(name: str) -> tuple[Callable[[Any], bytes], Callable[[Any], Any], str]:
    """(dumps, loads, what it is) for a serializer; TierUnavailable when its package is missing."""
    if name == "json":
        return _json_dumps, json.loads, "json.loads (stdlib)"
    if name == "pickle":
        return _pickle_dumps, _pickle_loads, "pickle protocol 5, loaded with globals refused"
    try:
        if name == "orjson":
            import orjson

            return orjson.dumps, orjson.loads, "orjson.loads"
        if name == "msgpack":
            import msgpack

            return msgpack.packb, msgpack.unpackb, "msgpack.unpackb"
    except ImportError as exc:
        raise TierUnavailable(f"serializer {name} is not installed ({exc}); pip install -r requirements.txt") from None
    raise ConfigError(f"unknown serializer {name!r}; valid: {', '.join(SERIALIZERS)}")


@dataclass(frozen=True)
class Serializer:
    """One serializer at one value size: encode(User) -> bytes, decode(bytes) -> User."""

    name: str
    value_bytes: int | None
    dumps: Callable[[Any], bytes]
    loads: Callable[[Any], Any]
    what: str

    def encode(self, user: User) -> bytes:
        record: dict[str, Any] = {"id": user.id, "name": user.name, "age": user.age}
        if self.value_bytes is None:
            return self.dumps(record)
        return _padded(self.dumps, record, self.value_bytes)

    def decode(self, raw: bytes | str) -> User:
        d = self.loads(raw)
        return User(id=d["id"], name=d["name"], age=d["age"])

    def describe(self) -> str:
        """'orjson.loads' / 'json.loads (stdlib), values padded to 10,240 bytes', for tier descriptions."""
        return self.what + ("" if self.value_bytes is None else f", values padded to {self.value_bytes:,} bytes")


def _padded(dumps: Callable[[Any], bytes], record: dict[str, Any], size: int) -> bytes:
    """record with a filler field sized so the encoded value is `size` bytes (or the least above it that a
    length prefix allows)."""
    fill = 0
    for _ in range(4):  # a length prefix may grow by a byte or two as the filler grows: converge
        data = dumps({**record, PAD: "x" * fill})
        if len(data) == size:
            return data
        fill = max(0, fill + size - len(data))
    return dumps({**record, PAD: "x" * fill})


def serializer(name: str, value_bytes: int | None = None) -> Serializer:
    dumps, loads, what = _library(name)
    return Serializer(name, value_bytes, dumps, loads, what)


def for_spec(spec: Any) -> Serializer:
    """The run's serializer (spec.serializer, spec.value_bytes)."""
    return serializer(spec.serializer, spec.value_bytes)
