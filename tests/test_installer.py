"""The packages a person installs: installer/build-bundle and installer/build-deb, built once per session in a
temporary folder; the .deb installed with dpkg into a temporary root (never the machine's /usr), its desktop
files validated, and its CLI and window run from there."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import subprocess
import sys
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from PySide6.QtGui import QImage

from tests.agent_support import wait_for
from tests.helpers import make_tree, read_tree
from tests.once import once_per_run
from timekeep.core.agent import file_managers
from timekeep.core.agent.install import UNIT_TEMPLATE, render

ROOT = Path(__file__).resolve().parent.parent
APP_ID = "org.timekeep.Timekeep"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


@dataclass(frozen=True)
class Built:
    bundle: Path
    deb: Path


def run(args: list[str | Path], env: dict[str, str] | None = None, check: bool = True,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The bundle, then the .deb around it, as a person builds them, in a temporary dist/ and build/: once per
    run, as the tests only read them (freezing the app is the longest set-up in the suite)."""
    return once_per_run(tmp_path_factory, "installer", build_installer)


def build_installer(base: Path) -> Built:
    env = {**os.environ, "PYTHON": sys.executable, "TIMEKEEP_DIST": str(base / "dist"),
           "TIMEKEEP_BUILD": str(base / "build"), "PYINSTALLER_CONFIG_DIR": str(base / "pyinstaller-cache")}
    bundle = Path(run([ROOT / "installer" / "build-bundle"], env, timeout=600).stdout.splitlines()[-1])
    deb = Path(run([ROOT / "installer" / "build-deb", "--reuse-bundle"], env, timeout=300).stdout.splitlines()[-1])
    return Built(bundle, deb)


def with_sbin() -> dict[str, str]:
    """The environment with /usr/sbin and /sbin on PATH: dpkg looks for ldconfig there, as a user too."""
    return {**os.environ, "PATH": os.pathsep.join([os.environ.get("PATH", "/usr/bin:/bin"), "/usr/sbin", "/sbin"])}


def dpkg_install(deb: Path, root: Path) -> Path:
    """Install with dpkg into an empty root of its own (the libraries it depends on are the machine's)."""
    for folder in ("var/lib/dpkg/info", "var/lib/dpkg/updates"):
        (root / folder).mkdir(parents=True)
    (root / "var/lib/dpkg/status").touch()
    run(["dpkg", f"--root={root}", "--force-depends", "--force-not-root", "--log=/dev/null", "-i", deb], with_sbin())
    return root


@pytest.fixture(scope="session")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dpkg_install(built.deb, tmp_path_factory.mktemp("root"))


def user_env(home: Path) -> dict[str, str]:
    """A person's session with nothing configured yet, no display and no systemd."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "TIMEKEEP_", "PYTHON", "QT_"))}
    env.update(HOME=str(home), QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(home / "run"),
               TIMEKEEP_NO_SYSTEMCTL="1", PATH=os.environ.get("PATH", "/usr/bin:/bin"))
    (home / "run").mkdir(parents=True, mode=0o700)
    return env


def packaged_files(deb: Path) -> list[str]:
    """The files and links the package holds, as paths relative to the root it is installed in."""
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        return [m.name.removeprefix("./") for m in archive.getmembers() if not m.isdir()]


def package_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


# the bundle

def test_bundle_holds_both_programs_and_runs_from_its_folder(built: Built) -> None:
    for name in ("timekeep", "timekeep-gui"):
        assert os.access(built.bundle / name, os.X_OK)
    assert (built.bundle / "_internal" / "README.md").read_bytes() == (ROOT / "README.md").read_bytes()  # Help
    done = run([built.bundle / "timekeep", "--help"])
    assert done.stdout.startswith("usage: timekeep")
    assert "backup" in done.stdout


def test_bundle_claims_no_generic_top_level_names(built: Built) -> None:
    from PyInstaller.archive.readers import CArchiveReader

    for program in ("timekeep", "timekeep-gui"):
        modules = set(CArchiveReader(str(built.bundle / program)).open_embedded_archive("PYZ.pyz").toc)
        assert {"timekeep.core.api", "timekeep.core.cli.commands", "timekeep.gui.app"} <= modules
        assert not {m for m in modules if m.split(".")[0] in ("core", "gui")}
    assert not [p for p in built.bundle.rglob("*") if p.name in ("core", "gui") and p.parent.name != "timekeep"]


def test_bundle_has_no_dangling_links(built: Built) -> None:
    assert [p for p in built.bundle.rglob("*") if p.is_symlink() and not p.exists()] == []


# the Debian package

def test_deb_is_named_and_described_for_this_machine(built: Built) -> None:
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    assert built.deb.name == f"timekeep_{package_version()}_{arch}.deb"
    fields = dict(re.findall(r"^(\S+): (.*)$", run(["dpkg-deb", "-f", built.deb]).stdout, re.MULTILINE))
    assert (fields["Package"], fields["Version"], fields["Architecture"]) == ("timekeep", package_version(), arch)
    assert "libgl1" in fields["Depends"].split(", ")
    glibc = set()
    for path in (built.bundle / "_internal").rglob("*.so*"):
        glibc.update(re.findall(r"GLIBC_([\d.]+)", run(["readelf", "-V", path]).stdout))
    newest = max(glibc, key=lambda v: [int(n) for n in v.split(".")])
    assert f"libc6 (>= {newest})" in fields["Depends"].split(", ")


def test_deb_has_no_maintainer_scripts_and_no_conffiles(built: Built, tmp_path: Path) -> None:
    """Installing and removing only add and remove the package's own files: nothing runs that could touch a
    repository or a person's settings, and no file is left behind as a conffile."""
    run(["dpkg-deb", "-e", built.deb, tmp_path / "control"])
    assert sorted(p.name for p in (tmp_path / "control").iterdir()) == ["control"]


def test_installed_tree_puts_programs_on_path_and_nothing_outside_its_places(built: Built, installed: Path) -> None:
    for name in ("timekeep", "timekeep-gui"):
        link = installed / "usr/bin" / name
        assert link.is_symlink() and link.resolve() == (installed / "usr/lib/timekeep" / name).resolve()
    allowed = ("usr/bin/", "usr/lib/timekeep/", "usr/lib/systemd/user/", "usr/share/", "etc/xdg/autostart/")
    files = packaged_files(built.deb)
    assert files and [f for f in files if not f.startswith(allowed)] == []
    assert not [p for p in (installed / "usr").rglob("*")
                if p.name in ("core", "gui") and (p / "__init__.py").exists() and p.parent.name != "timekeep"]


def test_menu_entry_and_autostart_entry_validate(installed: Path) -> None:
    menu = installed / "usr/share/applications" / f"{APP_ID}.desktop"
    autostart = installed / "etc/xdg/autostart/timekeep-agent.desktop"
    for entry in (menu, autostart):
        run(["desktop-file-validate", entry])
    assert "\nExec=/usr/bin/timekeep-gui\n" in menu.read_text()
    assert f"\nIcon={APP_ID}\n" in menu.read_text()
    assert "\nExec=/usr/bin/timekeep agent --if-configured\n" in autostart.read_text()
    assert "X-systemd-skip" not in autostart.read_text()  # the package enables no unit: this entry is the start


def test_metainfo_validates_and_names_the_menu_entry(installed: Path) -> None:
    metainfo = installed / "usr/share/metainfo" / f"{APP_ID}.metainfo.xml"
    run(["appstreamcli", "validate", "--no-net", metainfo])
    text = metainfo.read_text()
    assert f'<launchable type="desktop-id">{APP_ID}.desktop</launchable>' in text
    assert re.search(rf'<release version="{re.escape(package_version())}" date="\d{{4}}-\d\d-\d\d"/>', text)
    assert (installed / "usr/share/applications" / f"{APP_ID}.desktop").is_file()


def test_icons_fill_the_hicolor_sizes(installed: Path) -> None:
    hicolor = installed / "usr/share/icons/hicolor"
    assert (hicolor / "scalable/apps" / f"{APP_ID}.svg").read_bytes() == (ROOT / "resources/timekeep.svg").read_bytes()
    for px in ICON_SIZES:
        image = QImage(str(hicolor / f"{px}x{px}/apps" / f"{APP_ID}.png"))
        assert (image.width(), image.height()) == (px, px)
        assert image.hasAlphaChannel() and image.pixelColor(px // 2, px // 2).alpha() == 255  # drawn, not blank


def test_systemd_user_unit_is_the_agents_own_text(installed: Path) -> None:
    unit = installed / "usr/lib/systemd/user/timekeep-agent.service"
    assert unit.read_text() == render(UNIT_TEMPLATE, "/usr/bin/timekeep")
    assert not (installed / "usr/lib/systemd/user/default.target.wants").exists()


def test_file_manager_actions_listed_in_places_are_installed(installed: Path) -> None:
    """Whatever resources/file-managers/places.tsv lists (nothing while it is absent) is under /usr/share,
    with the command that opens the app filled in."""
    make_deb = load_make_deb()
    for source, destination in make_deb.places(ROOT / "resources" / "file-managers"):
        text = (installed / "usr/share" / destination).read_text()
        assert text == source.read_text().replace("@GUI@", "/usr/bin/timekeep-gui")
        assert text == file_managers.render(source.read_text(), "/usr/bin/timekeep-gui", destination)  # as a user's


def test_bundle_carries_the_file_manager_templates(built: Built) -> None:
    """So that `timekeep agent --install` from a bundle outside the package can install them for its person."""
    shipped = built.bundle / "_internal/resources/file-managers"
    folder = ROOT / "resources/file-managers"
    assert sorted(p.name for p in shipped.iterdir()) == sorted(p.name for p in folder.iterdir() if p.is_file())
    assert (shipped / "places.tsv").read_bytes() == (folder / "places.tsv").read_bytes()


# the installed programs

def test_installed_cli_round_trip_is_byte_exact(installed: Path, tmp_path: Path) -> None:
    env = user_env(tmp_path / "home")
    cli = installed / "usr/bin/timekeep"
    docs = tmp_path / "home/Documents"
    make_tree(docs, {"notes.txt": b"first draft\n", "deep": {"photo.raw": os.urandom(700_000), "empty": b""}})
    before = read_tree(docs)
    repo = tmp_path / "drive/Timekeep/laptop"
    run([cli, "init", "--here", "--encryption", "none", repo], env)
    env["TIMEKEEP_REPO"] = str(repo)
    run([cli, "add", docs], env)
    run([cli, "backup", "--quiet"], env)
    (docs / "notes.txt").write_bytes(b"second draft\n")
    (docs / "deep/photo.raw").unlink()
    run([cli, "backup", "--quiet"], env)
    run([cli, "restore", docs, "--at", "1", "--to", tmp_path / "back"], env)
    assert read_tree(tmp_path / "back/Documents") == before


def test_installed_cli_says_one_line_on_bad_input(installed: Path, tmp_path: Path) -> None:
    done = run([installed / "usr/bin/timekeep", "--repo", tmp_path / "nothing", "snapshots"],
               user_env(tmp_path / "home"), check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_installed_window_opens_on_first_run_and_quits_cleanly(installed: Path, tmp_path: Path) -> None:
    done = run([installed / "usr/bin/timekeep-gui", "--quit-after-start"], user_env(tmp_path / "home"))
    assert "shown: Welcome to Timekeep" in done.stdout.splitlines()


def test_installed_window_opens_a_repository(installed: Path, tmp_path: Path) -> None:
    env = user_env(tmp_path / "home")
    repo = tmp_path / "drive/Timekeep/laptop"
    run([installed / "usr/bin/timekeep", "init", "--here", "--encryption", "none", repo], env)
    done = run([installed / "usr/bin/timekeep-gui", "--repo", repo, "--quit-after-start"], env)
    assert "shown: Timekeep" in done.stdout.splitlines()


def test_installed_cli_opens_the_window_with_the_bundles_own_program(installed: Path, tmp_path: Path) -> None:
    """`timekeep gui` becomes the package's timekeep-gui (a frozen program has no `python -m` to run)."""
    env = user_env(tmp_path / "home")
    repo = tmp_path / "drive/Timekeep/laptop"
    run([installed / "usr/bin/timekeep", "init", "--here", "--encryption", "none", repo], env)
    said = tmp_path / "gui.err"
    with said.open("wb") as err:
        process = subprocess.Popen([installed / "usr/bin/timekeep", "gui", "--repo", repo], env=env,
                                   stdout=subprocess.DEVNULL, stderr=err)
    try:
        gui = (installed / "usr/lib/timekeep/timekeep-gui").resolve()
        wait_for(lambda: Path(f"/proc/{process.pid}/exe").resolve() == gui, what="timekeep gui to exec timekeep-gui")
        wanted = f"--repo\0{repo}".encode()  # the new program's arguments show a moment after its exe does
        wait_for(lambda: process.poll() is not None or wanted in Path(f"/proc/{process.pid}/cmdline").read_bytes(),
                 what="timekeep-gui's arguments")
        assert process.poll() is None, f"the window ended ({process.returncode}): {said.read_text()[-2000:]}"
    finally:
        process.terminate()
        process.wait(30)


# removing it

def test_removing_the_package_leaves_repositories_and_settings(built: Built, tmp_path: Path) -> None:
    root = dpkg_install(built.deb, tmp_path / "root")
    mine = root / "home/someone"
    make_tree(mine, {".config": {"timekeep": {"settings.json": b'{"repository": "/media/d/Timekeep/pc"}\n',
                                              "agent.json": b"{}\n"},
                                 "autostart": {"timekeep-agent.desktop": b"[Desktop Entry]\n"},
                                 "systemd": {"user": {"timekeep-agent.service": b"[Unit]\n"}}},
                     ".local": {"state": {"timekeep": {"log": {"agent.log": b"stored\n"}}}},
                     "drive": {"Timekeep": {"pc": {"config": b"repo", "packs": {"p1": os.urandom(4096)}}}}})
    kept = read_tree(mine)
    packaged = [root / name for name in packaged_files(built.deb)]
    assert packaged and all(p.is_symlink() or p.exists() for p in packaged)
    run(["dpkg", f"--root={root}", "--force-not-root", "--log=/dev/null", "--purge", "timekeep"], with_sbin())
    assert [p for p in packaged if p.is_symlink() or p.exists()] == []
    assert not (root / "usr/lib/timekeep").exists()
    assert read_tree(mine) == kept


# building without what it needs

def test_build_bundle_without_pyinstaller_says_what_to_do(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": "/bin/false", "TIMEKEEP_DIST": str(tmp_path / "dist"),
           "TIMEKEEP_BUILD": str(tmp_path / "build")}
    done = run([ROOT / "installer" / "build-bundle"], env, check=False)
    assert done.returncode == 2
    assert done.stderr == ("build-bundle: /bin/false lacks PyInstaller or PySide6; set up the checkout with "
                           ".venv/bin/pip install -e '.[test]'\n")
    assert not (tmp_path / "dist").exists()


def test_build_deb_without_a_bundle_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    done = run([ROOT / "installer" / "build-deb", "--reuse-bundle", "--bundle", tmp_path / "none",
                "--out", tmp_path / "dist", "--work", tmp_path / "work"], env, check=False)
    assert done.returncode == 1
    assert done.stderr == f"build-deb: {tmp_path / 'none'} is not a Timekeep bundle (run installer/build-bundle)\n"
    assert not (tmp_path / "dist").exists()


# how build-deb reads places.tsv

def load_make_deb() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_deb", ROOT / "installer" / "make_deb.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_places_install_each_listed_file_with_the_command_filled_in(tmp_path: Path) -> None:
    make_deb = load_make_deb()
    folder = tmp_path / "file-managers"
    make_tree(folder, {"places.tsv": b"# FILE\tDESTINATION\n"
                                     b"nautilus.py\tnautilus-python/extensions/timekeep_nautilus.py\n\n"
                                     b"dolphin.desktop\tkio/servicemenus/timekeep.desktop\n",
                       "nautilus.py": b"GUI = '@GUI@'\n", "dolphin.desktop": b"Exec=@GUI@ --file %f\n"})
    written = make_deb.stage_file_managers(folder, tmp_path / "share", "/usr/bin/timekeep-gui")
    assert read_tree(tmp_path / "share") == {
        b"nautilus-python": ("dir", b"", 0o755), b"nautilus-python/extensions": ("dir", b"", 0o755),
        b"nautilus-python/extensions/timekeep_nautilus.py": ("file", b"GUI = '/usr/bin/timekeep-gui'\n", 0o644),
        b"kio": ("dir", b"", 0o755), b"kio/servicemenus": ("dir", b"", 0o755),
        b"kio/servicemenus/timekeep.desktop": ("file", b"Exec=/usr/bin/timekeep-gui --file %f\n", 0o644)}
    assert len(written) == 2


def test_places_absent_or_empty_install_nothing(tmp_path: Path) -> None:
    make_deb = load_make_deb()
    assert make_deb.stage_file_managers(tmp_path / "absent", tmp_path / "share") == []
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty/places.tsv").write_text("")
    assert make_deb.stage_file_managers(tmp_path / "empty", tmp_path / "share") == []
    assert not (tmp_path / "share").exists()


@pytest.mark.parametrize("line", ["x.py\t/usr/share/evil.py", "x.py\t../../etc/evil", "x.py", "a\tb\tc"])
def test_places_refuse_a_line_that_leaves_share(tmp_path: Path, line: str) -> None:
    make_deb = load_make_deb()
    make_tree(tmp_path / "fm", {"places.tsv": (line + "\n").encode(), "x.py": b"@GUI@"})
    with pytest.raises(SystemExit, match=r"places.tsv:1: expected FILE<TAB>DESTINATION under share/"):
        make_deb.stage_file_managers(tmp_path / "fm", tmp_path / "share")
    assert not (tmp_path / "share").exists()


# what the package asks of the system

def needed_from_system(folder: Path) -> dict[str, list[Path]]:
    """Each library an ELF file of `folder` names (DT_NEEDED) that the folder does not carry, with who needs it."""
    carried = {p.name for p in folder.rglob("*.so*")}
    needed: dict[str, list[Path]] = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.read_bytes()[:4] == b"\x7fELF":
            for soname in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", run(["readelf", "-d", path]).stdout):
                if soname not in carried:
                    needed.setdefault(soname, []).append(path)
    return needed


def debian_package_of(soname: str) -> str | None:
    """The package holding `soname` on this machine, or None when it is not installed here."""
    for line in run(["ldconfig", "-p"], with_sbin()).stdout.splitlines():
        parts = line.split(" => ")
        if len(parts) == 2 and parts[0].split()[0] == soname:
            for candidate in (parts[1].strip(), os.path.realpath(parts[1].strip())):
                found = run(["dpkg", "-S", candidate], check=False)
                if found.returncode == 0:
                    return found.stdout.split(":")[0]
    return None


def test_every_system_library_the_bundle_loads_is_declared(built: Built) -> None:
    """Depends (and Recommends, for the GTK theme plugin) name the packages of every library the bundle needs
    from the system: checked on the built files, against this machine's own packages."""
    declared = {}
    for line in (ROOT / "installer/system-libraries.tsv").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            soname, package, field = line.split("\t")
            declared[soname] = (package, field)
    needed = needed_from_system(built.bundle)
    assert "libc.so.6" in needed
    assert sorted(set(needed) - set(declared)) == []
    fields = dict(re.findall(r"^(\S+): (.*)$", run(["dpkg-deb", "-f", built.deb]).stdout, re.MULTILINE))
    for name, (package, field) in declared.items():
        assert package in [p.split(" (")[0] for p in fields[field].split(", ")]
        if name.startswith("/"):  # a file a bundled library reads: fontconfig's configuration
            here = run(["dpkg", "-S", name]).stdout.split(":")[0] if os.path.exists(name) else None
        else:
            here = debian_package_of(name)
        assert here in (None, package), f"{name} comes from {here} here"
