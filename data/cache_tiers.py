"""flask-caching backends that keep the data layer's values as Python objects inside the process.

SimpleCache and RedisCache pickle a value on every set and unpickle it on every hit. At
SIM_SCALE=shanghai a warm map refresh spent ~25 ms unpickling 100,000-entry lists it had just
computed. Here a hit in the process is a dict lookup:

- `ObjectCache` (one process, the default): an LRU bounded by an estimate of its bytes.
- `TieredRedisCache` (REDIS_URL): Redis shared by every gunicorn worker, with an `ObjectCache` in
  front of it in each worker; a worker unpickles a Redis value once, not on every request.

Values are shared between callers, so they are read-only: the data layer builds new dicts around
them and callers must not modify what they get.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from flask_caching.backends.base import BaseCache
from flask_caching.backends.rediscache import RedisCache
from redis.backoff import NoBackoff
from redis.retry import Retry

from data.breaker import breaker

DEFAULT_MAX_BYTES = 160 * 1024 * 1024
_SAMPLE = 16


def approx_bytes(value: Any, depth: int = 0) -> int:
    """A quick estimate of the memory `value` keeps alive (large containers are sampled, not walked)."""
    if value is None or isinstance(value, (bool, int, float)):
        return 32
    if isinstance(value, str):
        return 49 + len(value)
    if isinstance(value, (bytes, bytearray)):
        return 33 + len(value)
    if isinstance(value, np.ndarray):
        return 112 + value.nbytes
    if isinstance(value, (pd.DataFrame, pd.Series)):
        return _frame_bytes(value)
    if depth > 6:
        return 64
    if isinstance(value, dict):
        items = list(value.items())
        sample = items if len(items) <= _SAMPLE else items[:: max(1, len(items) // _SAMPLE)]
        each = sum(approx_bytes(k, depth + 1) + approx_bytes(v, depth + 1) for k, v in sample) / max(1, len(sample))
        return int(64 + 100 * len(items) / 3 + each * len(items))
    if isinstance(value, (list, tuple, set, frozenset)):
        seq = list(value) if isinstance(value, (set, frozenset)) else value
        n = len(seq)
        if n == 0:
            return 56
        sample = seq if n <= _SAMPLE else [seq[i] for i in range(0, n, max(1, n // _SAMPLE))]
        each = sum(approx_bytes(v, depth + 1) for v in sample) / len(sample)
        return int(56 + 8 * n + each * n)
    return 64


def _frame_bytes(frame: pd.DataFrame | pd.Series) -> int:
    """Numeric columns exactly; text and other object columns by a sample of their values (pandas'
    deep count visits every string: 70 ms for a day of Hangzhou's incidents, on every cache write)."""
    total = 200 + int(np.sum(frame.memory_usage(index=True, deep=False)))
    columns = [frame[name] for name in frame.columns] if isinstance(frame, pd.DataFrame) else [frame]
    for column in columns:
        n = len(column)
        if n and (column.dtype == object or isinstance(column.dtype, pd.StringDtype)):
            sample = column.iloc[:: max(1, n // _SAMPLE)]
            total += int(sum(approx_bytes(v, 1) for v in sample) / len(sample) * n)
    return total


class ObjectCache(BaseCache):
    """Objects as they are, least recently used first out, within `max_bytes` (estimated) and
    `threshold` entries. Thread-safe."""

    def __init__(
        self, default_timeout: int = 300, threshold: int = 2000, max_bytes: int = DEFAULT_MAX_BYTES, **options: Any
    ) -> None:
        super().__init__(default_timeout=default_timeout, **options)
        self.threshold, self.max_bytes = threshold, max_bytes
        self.size = 0
        self._items: OrderedDict[str, tuple[float, int, Any]] = OrderedDict()  # key -> (expires, bytes, value)
        self._lock = threading.Lock()

    @classmethod
    def factory(cls, app: Any, config: dict[str, Any], args: list[Any], kwargs: dict[str, Any]) -> ObjectCache:
        kwargs.update(
            threshold=config.get("CACHE_THRESHOLD", 2000),
            max_bytes=int(config.get("CACHE_LOCAL_MAX_BYTES", DEFAULT_MAX_BYTES)),
        )
        return cls(*args, **kwargs)

    def _expires(self, timeout: int | None) -> float:
        seconds = self._normalize_timeout(timeout)
        return float("inf") if seconds == 0 else time.monotonic() + seconds

    def _live(self, key: str) -> tuple[float, int, Any] | None:
        """The entry under `key` if it has not expired (expired ones are dropped). Call with the lock held."""
        item = self._items.get(key)
        if item is not None and item[0] <= time.monotonic():
            self._drop(key)
            return None
        return item

    def _drop(self, key: str) -> None:
        _, size, _ = self._items.pop(key)
        self.size -= size

    def get(self, key: str) -> Any:
        with self._lock:
            item = self._live(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[2]

    def has(self, key: str) -> bool:
        with self._lock:
            return self._live(key) is not None

    def set(self, key: str, value: Any, timeout: int | None = None) -> bool:
        size = approx_bytes(value)
        if size > self.max_bytes // 2:  # would push everything else out: not kept
            self.delete(key)
            return False
        with self._lock:
            if key in self._items:
                self._drop(key)
            self._items[key] = (self._expires(timeout), size, value)
            self.size += size
            while self._items and (self.size > self.max_bytes or len(self._items) > self.threshold):
                self._drop(next(iter(self._items)))
        return True

    def add(self, key: str, value: Any, timeout: int | None = None) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
        return self.set(key, value, timeout)

    def delete(self, key: str) -> bool:
        with self._lock:
            if key not in self._items:
                return False
            self._drop(key)
            return True

    def clear(self) -> bool:
        with self._lock:
            self._items.clear()
            self.size = 0
        return True


def redis_options(timeout_ms: int) -> dict[str, Any]:
    """redis-py options for every Redis client: short timeouts and no retries (its defaults wait 5 s
    per call on a frozen Redis, and retry); callers fall back instead (data/breaker.py)."""
    seconds = timeout_ms / 1000
    return {
        "socket_timeout": seconds,
        "socket_connect_timeout": seconds,
        "retry_on_timeout": False,
        "retry": Retry(NoBackoff(), 0),
    }


class TieredRedisCache(RedisCache):
    """Redis (shared by every worker) behind an `ObjectCache` in this process.

    Keys of the data layer name the feed revisions they were computed from, so a local copy is never
    out of date; `clear()` clears Redis and this process's copies (other workers keep theirs until
    they expire, `CACHE_LOCAL_SECONDS`).

    Redis is optional at run time: a call that fails or times out (`CACHE_OPTIONS` sets short
    timeouts) opens the "redis" circuit breaker (data/breaker.py), and while it is open this cache
    is the local tier alone; callers see misses, never errors.
    """

    def __init__(
        self,
        *args: Any,
        local_max_bytes: int = DEFAULT_MAX_BYTES,
        local_seconds: int = 60,
        retry_seconds: float = 5.0,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.local = ObjectCache(default_timeout=local_seconds, max_bytes=local_max_bytes)
        self.breaker = breaker("redis", retry_seconds)

    @classmethod
    def factory(cls, app: Any, config: dict[str, Any], args: list[Any], kwargs: dict[str, Any]) -> TieredRedisCache:
        kwargs.update(
            local_max_bytes=int(config.get("CACHE_LOCAL_MAX_BYTES", DEFAULT_MAX_BYTES)),
            local_seconds=int(config.get("CACHE_LOCAL_SECONDS", 60)),
            retry_seconds=float(config.get("CACHE_REDIS_RETRY_SECONDS", 5.0)),
        )
        return super().factory(app, config, args, kwargs)

    def _shared(self, call: Callable[[], Any], fallback: Any) -> Any:
        """`call()` on Redis, or `fallback` while the breaker is open or when the call fails."""
        if not self.breaker.allow():
            return fallback
        try:
            result = call()
        except Exception as exc:  # (RedisError, OSError, or a garbled answer after a freeze: all mean skip it)
            self.breaker.failed(exc)
            return fallback
        self.breaker.succeeded()
        return result

    def ping(self) -> bool:
        """Does Redis answer now? Asked by /healthz, through the breaker: a worker whose answers all
        come from its local tier would otherwise report a frozen Redis as fine."""
        return bool(self._shared(lambda: self._write_client.ping(), False))

    def _keep(self, key: str, value: Any, timeout: int | None) -> None:
        seconds = self._normalize_timeout(timeout)
        local = self.local.default_timeout if seconds == 0 else min(seconds, self.local.default_timeout)
        self.local.set(key, value, local)

    def get(self, key: str) -> Any:
        value = self.local.get(key)
        if value is None:
            value = self._shared(lambda: super(TieredRedisCache, self).get(key), None)
            if value is not None:
                self._keep(key, value, None)
        return value

    def get_many(self, *keys: str) -> list[Any]:
        values = [self.local.get(k) for k in keys]
        missing = [k for k, v in zip(keys, values, strict=True) if v is None]
        if missing:
            shared = self._shared(lambda: super(TieredRedisCache, self).get_many(*missing), [None] * len(missing))
            fetched = dict(zip(missing, shared, strict=True))
            for k, v in fetched.items():
                if v is not None:
                    self._keep(k, v, None)
            values = [fetched.get(k) if v is None else v for k, v in zip(keys, values, strict=True)]
        return values

    def has(self, key: str) -> bool:
        return self.local.has(key) or self._shared(lambda: super(TieredRedisCache, self).has(key), False)

    def set(self, key: str, value: Any, timeout: int | None = None) -> bool:
        stored = self._shared(lambda: super(TieredRedisCache, self).set(key, value, timeout), False)
        self._keep(key, value, timeout)
        return stored

    def set_many(self, mapping: dict[str, Any], timeout: int | None = None) -> list[Any]:
        stored = self._shared(lambda: super(TieredRedisCache, self).set_many(mapping, timeout), [])
        for key, value in mapping.items():
            self._keep(key, value, timeout)
        return stored

    def add(self, key: str, value: Any, timeout: int | None = None) -> bool:
        if self.local.has(key):
            return False
        # (Redis unreachable: the local tier decides alone)
        added = self._shared(lambda: super(TieredRedisCache, self).add(key, value, timeout), True)
        if added:
            self._keep(key, value, timeout)
        return added

    def delete(self, key: str) -> bool:
        self.local.delete(key)
        return self._shared(lambda: super(TieredRedisCache, self).delete(key), False)

    def delete_many(self, *keys: str) -> list[Any]:
        for key in keys:
            self.local.delete(key)
        return self._shared(lambda: super(TieredRedisCache, self).delete_many(*keys), [])

    def clear(self) -> bool:
        self.local.clear()
        return self._shared(lambda: super(TieredRedisCache, self).clear(), False)
