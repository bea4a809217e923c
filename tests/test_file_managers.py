"""The file managers' right-click items: Dolphin's service menus validate as desktop files, Nemo's actions
carry every key Nemo needs and ask the condition script, which answers from protected-folders.json, the
Nautilus extension (loaded by Debian's Python against the real Nautilus 4.0 typelib) offers its items only
inside protected folders, and `timekeep agent --install/--uninstall` put them in and take exactly them out."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.agent_support import agent_env, cli
from tests.helpers import make_tree, new_repo
from timekeep.core.agent import file_managers
from timekeep.core.protected import publish

FOLDER = file_managers.resource_folder()
GUI = "/usr/bin/timekeep-gui"
SYSTEM_PYTHON = "/usr/bin/python3"


def rendered(name: str, gui: str = GUI) -> str:
    assert FOLDER is not None
    destination = dict(file_managers.places(FOLDER))[name]
    return file_managers.render((FOLDER / name).read_text(), gui, destination)


def test_places_name_every_template_and_each_lands_under_a_share_folder() -> None:
    assert FOLDER is not None
    places = file_managers.places(FOLDER)
    assert {name for name, _ in places} == {p.name for p in FOLDER.iterdir() if p.is_file()} - {"places.tsv"}
    assert {dest.split("/")[0] for _, dest in places} == {"nautilus-python", "kio", "nemo"}
    assert all(not dest.startswith("/") and ".." not in dest for _, dest in places)


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="needs desktop-file-utils")
@pytest.mark.parametrize("gui", [GUI, "/home/ann/my apps/bin/timekeep-gui"])
def test_dolphin_service_menus_validate(tmp_path: Path, gui: str) -> None:
    for name in ("timekeep-file.desktop", "timekeep-folder.desktop"):
        target = tmp_path / name
        target.write_text(rendered(name, gui))
        checked = subprocess.run(["desktop-file-validate", str(target)], capture_output=True, text=True, check=False)
        assert checked.returncode == 0 and checked.stdout == "", checked.stdout
        entry = configparser.ConfigParser(interpolation=None)
        entry.optionxform = str  # type: ignore[assignment,method-assign]
        entry.read(target)
        assert entry["Desktop Entry"]["X-KDE-Submenu"] == "Timekeep"
        actions = [a for a in entry["Desktop Entry"]["Actions"].split(";") if a]
        execs = [entry[f"Desktop Action {a}"]["Exec"] for a in actions]
        quoted = gui if " " not in gui else f'"{gui}"'
        assert all(e.startswith(quoted + " --") and e.endswith(("%f", "%f --previous")) for e in execs)


def test_dolphin_offers_versions_on_files_and_deleted_files_on_folders() -> None:
    files, folders = rendered("timekeep-file.desktop"), rendered("timekeep-folder.desktop")
    assert "Name=Show versions…" in files and "Name=Restore previous version…" in files
    assert f"Exec={GUI} --file %f --previous" in files and "MimeType=application/octet-stream;" in files
    assert "Name=Show this folder in Timekeep" in folders and "Name=Restore deleted files here…" in folders
    assert f"Exec={GUI} --folder %f" in folders and "MimeType=inode/directory;" in folders
    assert "Name=Browse this folder's history…" in folders and f"Exec={GUI} --browse %f" in folders


NEMO = {"timekeep-versions.nemo_action": ("Show versions…", "nodirs", "--file %F"),
        "timekeep-previous.nemo_action": ("Restore previous version…", "nodirs", "--file %F --previous"),
        "timekeep-folder.nemo_action": ("Show this folder in Timekeep", "dir", "--folder %F"),
        "timekeep-deleted.nemo_action": ("Restore deleted files here…", "dir", "--folder %F"),
        "timekeep-browse.nemo_action": ("Browse this folder's history…", "dir", "--browse %F")}


@pytest.mark.parametrize("name", sorted(NEMO))
def test_nemo_actions_have_every_key_nemo_needs(name: str) -> None:
    label, extensions, args = NEMO[name]
    action = configparser.ConfigParser(interpolation=None)
    action.read_string(rendered(name))
    keys = action["Nemo Action"]
    assert keys["Name"] == f"Timekeep: {label}"
    assert keys["Exec"] == f"{GUI} {args}"
    assert keys["Selection"] == "s" and keys["Extensions"] == f"{extensions};" and keys["Quote"] == "double"
    assert keys["Conditions"] == "exec <timekeep-protected.py %F>;"
    assert keys["Comment"] and keys["Icon-Name"] == "timekeep"


def condition(*args: str) -> int:
    assert FOLDER is not None
    return subprocess.run([SYSTEM_PYTHON, str(FOLDER / "timekeep-protected.py"), *args], check=False).returncode


def test_nemos_condition_passes_only_inside_protected_folders(tmp_path: Path) -> None:
    assert condition("/home/ann/Documents/a.txt") == 1  # nothing published yet
    publish("/drive/Timekeep/host", [b"/home/ann/Documents"])
    assert condition("/home/ann/Documents/a.txt") == 0
    assert condition("/home/ann/Documents") == 0
    assert condition("%F", "/home/ann/Documents/sub/b.txt") == 0  # an unexpanded token is ignored
    assert condition("/home/ann/Documentsx/a.txt") == 1
    assert condition("/home/ann/Documents/a.txt", "/etc/passwd") == 1
    assert condition() == 1


DRIVER = textwrap.dedent("""
    import json, sys
    import gi
    gi.require_version("Nautilus", "4.0")
    gi.require_version("Gio", "2.0")
    from gi.repository import Gio, GObject, Nautilus
    sys.path.insert(0, sys.argv[1])
    import timekeep_nautilus as ext

    class Info(GObject.Object, Nautilus.FileInfo):
        def __init__(self, path, is_dir):
            super().__init__()
            self.path, self.dir = path, is_dir
        def do_get_location(self):
            return Gio.File.new_for_path(self.path)
        def do_is_directory(self):
            return self.dir

    menu = ext.TimekeepMenu()
    launched = []
    menu.launch = launched.append
    def shown(items):
        out = []
        for top in items:
            assert isinstance(top, Nautilus.MenuItem)
            subs = top.props.menu.get_items()
            for item in subs:
                item.activate()
            out.append([top.props.label, [item.props.label for item in subs]])
        return out
    found = {}
    for key, path, is_dir in json.loads(sys.argv[2]):
        launched.clear()
        info = Info(path, is_dir)
        items = menu.get_background_items(info) if key == "background" else menu.get_file_items([info])
        found[key] = {"menus": shown(items), "launched": list(launched)}
    found["two"] = len(menu.get_file_items([Info(path, False), Info(path, False)]))
    print(json.dumps(found))
""")


@pytest.mark.skipif(not Path(SYSTEM_PYTHON).exists(), reason="needs Debian's python3")
def test_the_nautilus_extension_offers_its_items_only_inside_protected_folders(tmp_path: Path) -> None:
    gui = "/opt/time keep/bin/timekeep-gui"
    ext = tmp_path / "extensions"
    ext.mkdir()
    (ext / "timekeep_nautilus.py").write_text(rendered("timekeep_nautilus.py", gui))
    docs = tmp_path / "Documents"
    make_tree(docs, {"report.txt": b"r", "sub": {}})
    publish(tmp_path / "repo", [os.fsencode(docs)])
    cases = [["file", str(docs / "report.txt"), False], ["folder", str(docs / "sub"), True],
             ["background", str(docs), True], ["outside", str(tmp_path / "elsewhere.txt"), False]]
    probe = subprocess.run([SYSTEM_PYTHON, "-c", DRIVER, str(ext), json.dumps(cases)], capture_output=True,
                           text=True, check=False, env={**os.environ, "PYTHONPATH": ""})
    if "Namespace Nautilus not available" in probe.stderr:
        pytest.skip("needs gir1.2-nautilus-4.0 and python3-nautilus")
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    report = str(docs / "report.txt")
    assert found["file"] == {"menus": [["Timekeep", ["Show versions…", "Restore previous version…"]]],
                             "launched": [[gui, "--file", report], [gui, "--file", report, "--previous"]]}
    assert found["folder"]["menus"] == [["Timekeep", ["Show this folder in Timekeep", "Restore deleted files here…",
                                                      "Browse this folder's history…"]]]
    sub = str(docs / "sub")
    assert found["folder"]["launched"] == [[gui, "--folder", sub]] * 2 + [[gui, "--browse", sub]]
    assert found["background"]["launched"] == [[gui, "--folder", str(docs)]] * 2 + [[gui, "--browse", str(docs)]]
    assert found["outside"] == {"menus": [], "launched": []}
    assert found["two"] == 0  # several selected: nothing


def installed(home: Path) -> dict[str, int]:
    assert FOLDER is not None
    return {dest: stat.S_IMODE((home / dest).stat().st_mode) for _, dest in file_managers.places(FOLDER)
            if (home / dest).exists()}


def test_agent_install_puts_the_items_in_and_uninstall_takes_exactly_them_out(tmp_path: Path) -> None:
    env = agent_env(tmp_path / "runtime", tmp_path / "home")
    env["XDG_DATA_DIRS"] = str(tmp_path / "system-share")
    data = Path(env["XDG_DATA_HOME"])
    mine = data / "nemo" / "actions" / "someone-else.nemo_action"
    make_tree(mine.parent, {mine.name: b"[Nemo Action]\n"})
    done = cli(env, "agent", "--install", "--repo", str(tmp_path / "repo"))
    assert done.returncode == 0, done.stderr
    assert "Right-click items installed for Nautilus, Dolphin and Nemo" in done.stdout
    modes = installed(data)
    assert len(modes) == len(file_managers.places(FOLDER)) == 9  # type: ignore[arg-type]
    assert modes["nemo/actions/timekeep-protected.py"] == 0o755
    assert modes["kio/servicemenus/timekeep-file.desktop"] == 0o755
    assert modes["nemo/actions/timekeep-versions.nemo_action"] == 0o644
    gui = file_managers.gui_command()
    assert gui is not None and os.path.isabs(gui)
    extension = (data / "nautilus-python" / "extensions" / "timekeep_nautilus.py").read_text()
    assert f'GUI = "{gui}"' in extension and "@GUI@" not in extension
    for _, dest in file_managers.places(FOLDER):  # type: ignore[arg-type]
        assert "@GUI@" not in (data / dest).read_text()
    removed = cli(env, "agent", "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert "Right-click items removed from the file managers (9 files)" in removed.stdout
    assert installed(data) == {} and mine.read_bytes() == b"[Nemo Action]\n"


def test_nothing_is_added_where_a_package_installed_the_items_for_everyone(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    system = tmp_path / "usr-share"
    make_tree(system / "nautilus-python" / "extensions", {"timekeep_nautilus.py": b"# packaged"})
    monkeypatch.setenv("XDG_DATA_DIRS", str(system))
    said = file_managers.install(tmp_path / "home", GUI)
    assert said == ["Right-click items in the file manager: already installed for every user."]
    assert installed(tmp_path / "home") == {}


def test_a_repository_s_folders_reach_the_extension_through_the_list(tmp_path: Path) -> None:
    """End to end on the engine's side: protecting a folder is enough for the condition to pass."""
    docs = tmp_path / "Papers"
    make_tree(docs, {"a.txt": b"a"})
    new_repo(tmp_path, docs)
    assert condition(str(docs / "a.txt")) == 0
    assert condition(str(tmp_path / "a.txt")) == 1


def test_templates_are_found_in_a_bundle_a_checkout_and_an_installed_copy(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert FOLDER is not None and FOLDER.parent.parent == Path(__file__).resolve().parent.parent  # the checkout
    installed = tmp_path / "venv" / "share" / "timekeep" / "resources" / "file-managers"
    bundle = tmp_path / "bundle" / "resources" / "file-managers"
    for folder in (installed, bundle):
        shutil.copytree(FOLDER, folder)
    monkeypatch.setattr(file_managers, "__file__", str(tmp_path / "site" / "timekeep" / "core" / "agent" / "x.py"))
    monkeypatch.setattr("sys.prefix", str(tmp_path / "venv"))
    assert file_managers.resource_folder() == installed
    monkeypatch.setattr("sys._MEIPASS", str(tmp_path / "bundle"), raising=False)
    assert file_managers.resource_folder() == bundle
    monkeypatch.setattr("sys.prefix", str(tmp_path / "nowhere"))
    monkeypatch.delattr("sys._MEIPASS")
    assert file_managers.resource_folder() is None
    assert file_managers.install(tmp_path / "home", GUI) == [
        "Right-click items in the file manager not installed: its templates could not be found."]
