"""The writer's open reads the repository's config once under the writer lock and hands it to the open
repository: a format-1 repository is upgraded on the drive and the open repository says format 2 too."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.helpers import backup, make_tree, new_repo
from timekeep.core.repository import Repository
from timekeep.core.storage.layout import GENERATIONS_FORMAT, load_config


def test_a_format_1_repository_opens_for_writing_as_format_2_on_the_drive_and_in_hand(tmp_path: Path) -> None:
    src = Path(os.path.realpath(tmp_path)) / "src"
    make_tree(src, {"a.txt": b"alpha\n"})
    repo = new_repo(tmp_path, src)
    backup(repo)
    config_path = repo / "config.json"
    data = json.loads(config_path.read_text())
    data["format"] = 1
    os.chmod(config_path, 0o600)
    config_path.write_text(json.dumps(data))
    assert load_config(repo).format == 1
    with Repository.open(repo, writer=True) as opened:
        assert opened.config.format == GENERATIONS_FORMAT == 2
        assert load_config(repo).format == GENERATIONS_FORMAT
        assert opened.config == load_config(repo)
    with Repository.open(repo) as reader:
        assert reader.config.format == GENERATIONS_FORMAT
