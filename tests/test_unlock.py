"""Where the passphrase comes from: the environment, a file, a terminal prompt that never echoes (twice when
creating), and in which order; and that a wrong given passphrase is final (issue 12)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import textwrap
from pathlib import Path

import pytest

from timekeep.core.crypto import keys
from timekeep.core.crypto.kdf import TEST_PARAMS
from timekeep.core.crypto.unlock import ENV_VAR, PassphraseSource, Source, read_passphrase_file
from timekeep.core.errors import PassphraseUnavailable, UsageError, WrongPassphrase

REPO_ID = "abcdefabcdefabcdefabcdefabcdef01"


class Answers:
    """A person at the prompt, answering from a script; records what was asked."""

    def __init__(self, *answers: str) -> None:
        self.answers, self.asked = list(answers), []  # type: tuple[list[str], list[str]]

    def ask(self, question: str) -> str:
        self.asked.append(question)
        return self.answers.pop(0)


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, keys.Created]:
    return tmp_path, keys.create(tmp_path, REPO_ID, "correct horse", TEST_PARAMS)


def test_the_environment_gives_the_passphrase_first(repo: tuple[Path, keys.Created]) -> None:
    root, made = repo
    prompt = Answers()
    opened = PassphraseSource({ENV_VAR: "correct horse"}, prompt=prompt).open(root, REPO_ID)
    assert (opened.unlocked.key, opened.source, prompt.asked) == (made.key, Source.ENVIRONMENT, [])


def test_a_wrong_given_passphrase_is_final_not_a_prompt(repo: tuple[Path, keys.Created], tmp_path: Path) -> None:
    root, _ = repo
    prompt = Answers("correct horse")
    with pytest.raises(WrongPassphrase) as caught:
        PassphraseSource({ENV_VAR: "wrong"}, prompt=prompt).open(root, REPO_ID)
    assert caught.value.exit_code == 2 and prompt.asked == []


def test_a_passphrase_file_gives_its_text_less_one_line_end(repo: tuple[Path, keys.Created], tmp_path: Path
                                                            ) -> None:
    root, made = repo
    kept = tmp_path / "pass.txt"
    kept.write_bytes(b"correct horse\r\n")
    opened = PassphraseSource({}, passphrase_file=kept).open(root, REPO_ID)
    assert (opened.unlocked.key, opened.source, opened.secret) == (made.key, Source.FILE, "correct horse")
    kept.write_bytes(b"correct horse \n\n")  # only one line end is taken off: this is another passphrase
    with pytest.raises(WrongPassphrase):
        PassphraseSource({}, passphrase_file=kept).open(root, REPO_ID)


def test_the_recovery_key_works_wherever_the_passphrase_does(repo: tuple[Path, keys.Created], tmp_path: Path
                                                             ) -> None:
    root, made = repo
    opened = PassphraseSource({ENV_VAR: made.recovery_text}).open(root, REPO_ID)
    assert opened.unlocked.key == made.key and opened.unlocked.slot_id == made.recovery_slot
    opened = PassphraseSource({}, prompt=Answers(made.recovery_text)).open(root, REPO_ID)
    assert opened.unlocked.slot_id == made.recovery_slot and opened.source == Source.PROMPT


@pytest.mark.parametrize("content, says", [
    (None, "cannot be read: No such file"),
    (b"", "is empty"),
    (b"\n", "is empty"),
    (b"\xff\xfe", "is not UTF-8"),
    (b"x" * (65 * 1024), "larger than any passphrase"),
])
def test_a_bad_passphrase_file_is_one_line_naming_it(tmp_path: Path, content: bytes | None, says: str) -> None:
    path = tmp_path / "pass.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UsageError, match=says) as caught:
        read_passphrase_file(path)
    assert str(path) in str(caught.value) and caught.value.exit_code == 2


def test_the_prompt_asks_again_after_a_wrong_passphrase_then_gives_up(repo: tuple[Path, keys.Created]) -> None:
    root, made = repo
    prompt = Answers("nope", "", "correct horse")
    opened = PassphraseSource({}, prompt=prompt).open(root, REPO_ID)
    assert opened.unlocked.key == made.key and len(prompt.asked) == 3 and opened.source == Source.PROMPT
    with pytest.raises(WrongPassphrase):
        PassphraseSource({}, prompt=Answers("a", "b", "c")).open(root, REPO_ID)


def test_no_source_at_all_says_where_a_passphrase_can_come_from(repo: tuple[Path, keys.Created]) -> None:
    root, _ = repo
    with pytest.raises(PassphraseUnavailable, match=ENV_VAR) as caught:
        PassphraseSource({}).open(root, REPO_ID)
    assert caught.value.exit_code == 2


def test_creating_asks_twice_until_both_match() -> None:
    prompt = Answers("one", "two", "", "three", "three")
    assert PassphraseSource({}, prompt=prompt).for_create() == "three"
    assert prompt.asked == ["New passphrase: ", "The same passphrase again: ", "New passphrase: ",
                            "New passphrase: ", "The same passphrase again: "]
    with pytest.raises(UsageError, match="did not match"):
        PassphraseSource({}, prompt=Answers("a", "b", "a", "b", "a", "b")).for_create()
    assert PassphraseSource({ENV_VAR: "given"}, prompt=Answers()).for_create() == "given"


# --- a real terminal ---------------------------------------------------------------------------------------------

TERMINAL_CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from timekeep.core.crypto.unlock import PassphraseSource, TerminalPrompt
    from timekeep.core.errors import TimekeepError
    source = PassphraseSource({}, prompt=TerminalPrompt())
    try:
        if sys.argv[1] == "create":
            print("CHOSE", source.for_create())
        else:
            print("OPENED", source.open(Path(sys.argv[2]), sys.argv[3]).unlocked.slot_id)
    except TimekeepError as err:
        print("ERROR", err)
        sys.exit(err.exit_code)
""")


def _take_terminal() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def on_a_terminal(args: list[str], typed: list[str]) -> tuple[str, int]:
    """Run the child with a pseudo-terminal as its controlling terminal, type one line after each new question
    (each holds one ':'), and return all the terminal showed (echo included, were there any) and the exit code."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", TERMINAL_CHILD, *args], stdin=slave, stdout=slave, stderr=slave,
                            preexec_fn=_take_terminal, close_fds=True)
    os.close(slave)
    shown, pending, questions = b"", list(typed), 0
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        assert ready, f"the terminal went quiet: {shown!r}"
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        if pending and shown.count(b":") > questions:  # a new question, however its bytes were split
            questions += 1
            os.write(master, pending.pop(0).encode() + b"\n")
    os.close(master)
    return shown.decode(errors="replace"), proc.wait(timeout=30)


def test_the_terminal_prompt_never_echoes_the_passphrase(repo: tuple[Path, keys.Created]) -> None:
    root, made = repo
    shown, code = on_a_terminal(["open", str(root), REPO_ID], ["correct horse"])
    assert code == 0 and f"OPENED {made.passphrase_slot}" in shown
    assert "Passphrase (or recovery key):" in shown and "correct horse" not in shown


def test_creating_on_a_terminal_asks_twice_without_echo() -> None:
    shown, code = on_a_terminal(["create"], ["tulip garden", "tulip garden"])
    assert code == 0 and "New passphrase:" in shown and "The same passphrase again:" in shown
    assert shown.count("tulip garden") == 1 and "CHOSE tulip garden" in shown  # only the child's own print


def test_without_a_terminal_the_prompt_refuses_rather_than_read_a_pipe(repo: tuple[Path, keys.Created]) -> None:
    root, _ = repo
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    done = subprocess.run([sys.executable, "-c", TERMINAL_CHILD, "open", str(root), REPO_ID], input=b"correct horse\n",
                          capture_output=True, start_new_session=True, env=env, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stdout.decode().startswith("ERROR No passphrase:") and b"Traceback" not in done.stderr
