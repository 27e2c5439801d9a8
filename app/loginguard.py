"""Back-off on password failures, per address (or account) and per client IP.

Flask-Limiter (app/extensions.py) caps requests per minute; this module slows a
password guesser down, whatever address or IP it tries: after ``free`` failures
each new one doubles the wait, up to ``longest``. The address's count is kept
whether or not an account uses it (the answer must not tell), and a successful
login or an emailed sign-in link clears it; the IP's count is never cleared by a
success (a guesser would log in to an account of their own in between).

Times come from app/clock.py. The counts live in Redis so every web process sees
them; when Redis does not answer they live in this process's memory (as
Flask-Limiter's in-memory fallback does): logins go on, and so do the limits.
A storage URI that is not Redis's (``memory://``, as the benchmarks use) counts in
memory from the start.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError

from . import clock

PREFIX = "relance:loginguard:"
# A count is forgotten a day after its last failure.
FORGET_AFTER = 24 * 3600
# While Redis is down, try it again this often (monotonic seconds, not the clock).
REDIS_RETRY = 2.0
# The URI schemes Redis.from_url reads; any other storage counts in memory.
REDIS_SCHEMES = ("redis", "rediss", "unix")
# Records kept in memory while Redis is down, at most.
MEMORY_CAP = 100_000


@dataclass(frozen=True)
class Rule:
    free: int  # failures allowed before the first wait
    first: int  # seconds of the first wait, doubled by each failure after it
    longest: int  # cap on one wait

    def wait(self, failures: int) -> int:
        if failures < self.free:
            return 0
        return min(self.longest, self.first * 2 ** min(failures - self.free, 32))


RULES = {
    # One address (or one logged-in account's current-password checks).
    "address": Rule(free=5, first=60, longest=3600),
    "account": Rule(free=5, first=60, longest=3600),
    # One client IP, whatever address it tries.
    "ip": Rule(free=20, first=60, longest=3600),
}


@dataclass(frozen=True)
class Lock:
    kind: str
    until: float  # epoch seconds

    def minutes(self) -> int:
        return max(1, math.ceil((self.until - clock.now().timestamp()) / 60))


class _Store:
    """Failure records ``(count, last failure epoch)`` in Redis, or in memory."""

    def __init__(self, url):
        self.redis = None
        if urlsplit(url).scheme in REDIS_SCHEMES:
            self.redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.memory: dict[str, tuple[int, float]] = {}
        self.lock = threading.Lock()
        self.down_since: float | None = None

    def _use_redis(self) -> bool:
        if self.redis is None:
            return False
        return self.down_since is None or time.monotonic() - self.down_since > REDIS_RETRY

    def _failed(self, error):
        if self.down_since is None:
            current_app.logger.warning("login limits: Redis unreachable (%s), counting in memory", error)
        self.down_since = time.monotonic()

    def get(self, key) -> tuple[int, float]:
        if self._use_redis():
            try:
                count, last = self.redis.hmget(key, "n", "last")
                self.down_since = None
                return int(count or 0), float(last or 0)
            except RedisError as error:
                self._failed(error)
        with self.lock:
            return self.memory.get(key, (0, 0.0))

    def add(self, key, last):
        """One more failure, at ``last`` (atomic: concurrent failures all count)."""
        if self._use_redis():
            try:
                with self.redis.pipeline() as pipe:
                    pipe.hincrby(key, "n", 1)
                    pipe.hset(key, "last", repr(last))
                    pipe.expire(key, FORGET_AFTER)
                    pipe.execute()
                self.down_since = None
                return
            except RedisError as error:
                self._failed(error)
        with self.lock:
            count, _last = self.memory.get(key, (0, 0.0))
            self.memory[key] = (count + 1, last)
            if len(self.memory) > MEMORY_CAP:
                # Bounded whatever an attacker cycles through: the oldest records go first.
                oldest = sorted(self.memory, key=lambda k: self.memory[k][1])[: MEMORY_CAP // 10]
                for old in oldest:
                    del self.memory[old]

    def clear(self, key):
        with self.lock:
            self.memory.pop(key, None)
        if self._use_redis():
            try:
                self.redis.delete(key)
                self.down_since = None
            except RedisError as error:
                self._failed(error)


def _store() -> _Store:
    store = current_app.extensions.get("loginguard")
    if store is None:
        url = current_app.config.get("RATELIMIT_STORAGE_URI") or current_app.config["REDIS_URL"]
        store = current_app.extensions["loginguard"] = _Store(url)
    return store


def _key(kind, ident) -> str:
    # The address is not stored in Redis in clear.
    return PREFIX + kind + ":" + hashlib.sha256(str(ident).encode()).hexdigest()[:32]


def _stale(last) -> bool:
    return clock.now().timestamp() - last > FORGET_AFTER


def _count(kind, ident) -> tuple[int, float]:
    count, last = _store().get(_key(kind, ident))
    if count and _stale(last):
        return 0, 0.0
    return count, last


def locked(*subjects: tuple[str, str]) -> Lock | None:
    """The longest lock among ``(kind, ident)`` subjects, or None: try now."""
    now = clock.now().timestamp()
    found = None
    for kind, ident in subjects:
        count, last = _count(kind, ident)
        until = last + RULES[kind].wait(count)
        if until > now and (found is None or until > found.until):
            found = Lock(kind, until)
    return found


def failed(*subjects: tuple[str, str]) -> None:
    """Record one failure for each subject."""
    now = clock.now().timestamp()
    store = _store()
    for kind, ident in subjects:
        key = _key(kind, ident)
        count, last = store.get(key)
        if count and _stale(last):
            store.clear(key)
        store.add(key, now)


def clear(kind: str, ident: str) -> None:
    _store().clear(_key(kind, ident))


def failures(kind: str, ident: str) -> int:
    return _count(kind, ident)[0]
