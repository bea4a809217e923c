"""The recovery key's text: every key round-trips, and any one mistyped or swapped symbol is caught by the
checksum before a key derivation could run (issue 12)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from timekeep.core.crypto import recovery
from timekeep.core.errors import RecoveryKeyTypo

secrets = st.binary(min_size=32, max_size=32)


@given(secrets)
def test_every_key_round_trips_through_its_text(secret: bytes) -> None:
    text = recovery.encode(secret)
    assert recovery.decode(text) == secret
    assert recovery.looks_like_recovery_key(text)
    groups = text.split("-")
    assert len(groups) == 9 and all(len(g) == 6 and set(g) <= set(recovery.ALPHABET) for g in groups)


@given(secrets)
def test_case_spacing_and_look_alike_letters_do_not_matter(secret: bytes) -> None:
    text = recovery.encode(secret)
    relaxed = text.lower().replace("-", "  ").replace("1", "l").replace("0", "O")
    assert recovery.decode(relaxed) == secret
    assert recovery.decode(" " + text.replace("-", "") + "\n") == secret


@given(secrets, st.data())
def test_any_single_symbol_typed_wrong_is_caught(secret: bytes, data: st.DataObject) -> None:
    symbols = recovery.encode(secret).replace("-", "")
    at = data.draw(st.integers(0, len(symbols) - 1))
    wrong = data.draw(st.sampled_from([s for s in recovery.ALPHABET if s != symbols[at]]))
    with pytest.raises(RecoveryKeyTypo, match="checksum"):
        recovery.decode(symbols[:at] + wrong + symbols[at + 1 :])


def test_every_single_substitution_of_one_key_is_caught() -> None:
    """Exhaustively, for one key: all 54 × 31 one-symbol typos."""
    symbols = recovery.encode(bytes(range(32))).replace("-", "")
    for at, have in enumerate(symbols):
        for wrong in recovery.ALPHABET.replace(have, ""):
            with pytest.raises(RecoveryKeyTypo):
                recovery.decode(symbols[:at] + wrong + symbols[at + 1 :])


@given(secrets, st.data())
def test_two_neighbours_swapped_are_caught(secret: bytes, data: st.DataObject) -> None:
    symbols = recovery.encode(secret).replace("-", "")
    # every pair but the one straddling key and check, where the algebra guarantees nothing (rarely missed)
    differing = [i for i in range(len(symbols) - 1)
                 if symbols[i] != symbols[i + 1] and i != recovery.KEY_SYMBOLS - 1]
    assume(differing)
    at = data.draw(st.sampled_from(differing))
    swapped = symbols[:at] + symbols[at + 1] + symbols[at] + symbols[at + 2 :]
    with pytest.raises(RecoveryKeyTypo):
        recovery.decode(swapped)


@pytest.mark.parametrize("text, says", [
    ("ABC", "has 54 letters and digits; this one has 3"),
    ("U" * 54, "holds no U"),
])
def test_text_that_cannot_be_a_recovery_key_says_why(text: str, says: str) -> None:
    with pytest.raises(RecoveryKeyTypo, match=says) as caught:
        recovery.decode(text)
    assert caught.value.exit_code == 2


def test_a_symbol_missing_or_one_too_many_is_caught() -> None:
    text = recovery.encode(bytes(32)).replace("-", "")
    for wrong in (text[:-1], text + "0", text[1:]):
        with pytest.raises(RecoveryKeyTypo):
            recovery.decode(wrong)


@pytest.mark.parametrize("passphrase", ["correct horse battery staple", "0123456789" * 6, "hunter2"])
def test_passphrases_are_not_taken_for_recovery_keys(passphrase: str) -> None:
    assert not recovery.looks_like_recovery_key(passphrase)
