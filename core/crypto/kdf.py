"""Turning a secret into a key slot's key-encryption key: Argon2id for a passphrase, HKDF for a recovery key.

Argon2id's cost is tuned when a slot is made, to about half a second on the machine that makes it (memory up to
64 MiB, then passes), never below the floor (OWASP's least: 19 MiB, 2 passes). An opener refuses parameters
outside the floor and the ceiling (1 GiB, 16 passes, 16 lanes) before deriving anything, so a hostile slot file
can neither make it allocate gigabytes nor pass off a cheap derivation. A recovery key and a keyring secret hold 256
random bits: a fast KDF suffices.
"""

from __future__ import annotations

import os
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

KEK_BYTES = 32
SALT_BYTES = 16
ARGON2_VERSION = 0x13  # the only version `cryptography` computes
TARGET_SECONDS = 0.5
LANES = 4
# 64 MiB, as RFC 9106's second recommendation and KeePassXC and Bitwarden use, then passes to the target: every
# encrypted command unlocks first, so more memory would lift its peak (and the agent's) far above a backup's own
MAX_TUNED_MEMORY_KIB = 64 * 1024
MAX_TUNED_ITERATIONS = 16  # the ceiling: at 64 MiB a pass takes about 20 ms here
RECOVERY_INFO = b"timekeep 2026-12 key slot: recovery key"
KEYRING_INFO = b"timekeep 2026-12 key slot: keyring secret"


@dataclass(frozen=True)
class Argon2Params:
    memory_kib: int
    iterations: int
    lanes: int

    def problem(self) -> str | None:
        """Why an opener refuses these parameters, or None when they lie between floor and ceiling."""
        for name, value, low, high in (("memory_kib", self.memory_kib, FLOOR.memory_kib, CEILING.memory_kib),
                                       ("iterations", self.iterations, FLOOR.iterations, CEILING.iterations),
                                       ("lanes", self.lanes, FLOOR.lanes, CEILING.lanes)):
            if not low <= value <= high:
                return f"Argon2id {name} {value} lies outside {low}..{high}"
        return None


FLOOR = Argon2Params(memory_kib=19 * 1024, iterations=2, lanes=1)
CEILING = Argon2Params(memory_kib=1024 * 1024, iterations=16, lanes=16)
TEST_PARAMS = Argon2Params(memory_kib=FLOOR.memory_kib, iterations=FLOOR.iterations, lanes=LANES)


def passphrase_kek(passphrase: str, salt: bytes, params: Argon2Params) -> bytes:
    """The key-encryption key of a passphrase slot. The passphrase is taken in Unicode NFC, so the same
    words typed on two keyboards that compose accents differently give the same key."""
    if params.problem():
        raise ValueError(params.problem())
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id  # loaded with the first key

    kdf = Argon2id(salt=salt, length=KEK_BYTES, iterations=params.iterations, lanes=params.lanes,
                   memory_cost=params.memory_kib)
    return kdf.derive(unicodedata.normalize("NFC", passphrase).encode("utf-8"))


def recovery_kek(secret: bytes, salt: bytes) -> bytes:
    return _hkdf(secret, salt, RECOVERY_INFO)


def keyring_kek(secret: bytes, salt: bytes) -> bytes:
    """A keyring slot's key-encryption key: the secret is 256 random bits the keyring keeps, so, as for a
    recovery key, a fast KDF suffices (its own info string: the two kinds of secret never open each other)."""
    return _hkdf(secret, salt, KEYRING_INFO)


def _hkdf(secret: bytes, salt: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes  # loaded with the first key
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=KEK_BYTES, salt=salt, info=info).derive(secret)


def new_salt() -> bytes:
    return os.urandom(SALT_BYTES)


def tune(target_s: float = TARGET_SECONDS, measure: Callable[[Argon2Params], float] | None = None) -> Argon2Params:
    """Parameters that cost about `target_s` here: one timed derivation at a base cost, scaled (time grows
    with memory × passes), memory first, then passes, kept between the floor and the tuning caps. When memory
    reaches its cap, the passes are timed once more: fewer memory blocks than the base runs faster per pass."""
    timed = measure or _time_one
    base = Argon2Params(memory_kib=64 * 1024, iterations=2, lanes=LANES)
    seconds = max(timed(base), 1e-6)
    cost = base.memory_kib * base.iterations * target_s / seconds
    memory = int(min(max(cost / base.iterations, FLOOR.memory_kib), MAX_TUNED_MEMORY_KIB))
    tuned = Argon2Params(memory, _passes(cost / memory), LANES)
    if memory == MAX_TUNED_MEMORY_KIB and FLOOR.iterations < tuned.iterations < MAX_TUNED_ITERATIONS:
        tuned = Argon2Params(memory, _passes(tuned.iterations * target_s / max(timed(tuned), 1e-6)), LANES)
    return tuned


def _passes(estimate: float) -> int:
    return int(min(max(round(estimate), FLOOR.iterations), MAX_TUNED_ITERATIONS))


def _time_one(params: Argon2Params) -> float:
    start = time.perf_counter()
    passphrase_kek("timekeep tuning", bytes(SALT_BYTES), params)
    return time.perf_counter() - start
