"""The recovery key as a person sees it: 256 random bits in groups of Crockford base32, with a checksum.

The text is 52 symbols of key (the top 4 bits are zero) and 2 of check: the key as a number modulo the
prime 1021. Any one symbol typed wrong changes the number by d·32^k (0 < |d| < 32), and two neighbours of
the key swapped by (a-b)·31·32^k; 1021 divides neither, so both are always caught, before any key derivation
runs. Case, spaces and dashes do not matter, and I, L, O are read as 1, 1, 0, as Crockford has it.
"""

from __future__ import annotations

import os
import re

from timekeep.core.errors import RecoveryKeyTypo

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
KEY_BYTES = 32
KEY_SYMBOLS = 52
CHECK_SYMBOLS = 2
SYMBOLS = KEY_SYMBOLS + CHECK_SYMBOLS
GROUP = 6
CHECK_PRIME = 1021
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}
_SHAPE = re.compile(rf"^\s*[0-9A-Za-z]{{{GROUP}}}([- ]+[0-9A-Za-z]{{{GROUP}}}){{{SYMBOLS // GROUP - 1}}}\s*$")


def new_recovery_secret() -> bytes:
    return os.urandom(KEY_BYTES)


def encode(secret: bytes) -> str:
    """The text shown to a person once: nine groups of six symbols joined by dashes."""
    if len(secret) != KEY_BYTES:
        raise ValueError(f"a recovery key is {KEY_BYTES} bytes")
    number = int.from_bytes(secret, "big")
    symbols = _symbols(number, KEY_SYMBOLS) + _symbols(number % CHECK_PRIME, CHECK_SYMBOLS)
    return "-".join(symbols[i : i + GROUP] for i in range(0, SYMBOLS, GROUP))


def decode(text: str) -> bytes:
    """The 32 bytes behind `text`, or RecoveryKeyTypo saying what is wrong with it."""
    symbols = normalise(text)
    if len(symbols) != SYMBOLS:
        raise RecoveryKeyTypo(f"A recovery key has {SYMBOLS} letters and digits; this one has {len(symbols)}.")
    unknown = sorted({s for s in symbols if s not in _VALUE})
    if unknown:
        raise RecoveryKeyTypo(f"A recovery key holds no {', '.join(unknown)}: check what was typed.")
    number, check = _number(symbols[:KEY_SYMBOLS]), _number(symbols[KEY_SYMBOLS:])
    if number >> (8 * KEY_BYTES) or number % CHECK_PRIME != check:
        raise RecoveryKeyTypo("The recovery key has a typo: its checksum does not match. Check each group.")
    return number.to_bytes(KEY_BYTES, "big")


def looks_like_recovery_key(text: str) -> bool:
    """True for text shaped as a recovery key (nine groups of six), checksum aside: never a passphrase."""
    return bool(_SHAPE.match(text))


def normalise(text: str) -> str:
    return "".join(text.split()).replace("-", "").upper().translate(_READ_AS)


def _symbols(number: int, count: int) -> str:
    out = []
    for _ in range(count):
        number, digit = divmod(number, 32)
        out.append(ALPHABET[digit])
    return "".join(reversed(out))


def _number(symbols: str) -> int:
    number = 0
    for symbol in symbols:
        number = number * 32 + _VALUE[symbol]
    return number
