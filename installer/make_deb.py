"""Assemble the Debian package from the one-folder bundle: the bundle under /usr/lib/timekeep, commands on
PATH, the desktop entry, icons, AppStream metainfo, the agent's systemd user unit and autostart entry, and the
file-manager actions. No maintainer scripts: installing and removing only adds and removes these files, so
uninstalling can never touch a repository or a person's settings.

Run by installer/build-deb with the Python that built the bundle (it has PySide6, to render the icons).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_ID = "org.timekeep.Timekeep"
LIB = Path("usr/lib/timekeep")
CLI = "/usr/bin/timekeep"
GUI = "/usr/bin/timekeep-gui"
MAINTAINER = "The Timekeep developers <timekeep@localhost>"
UNIT_NAME = "timekeep-agent.service"
SUGGESTS = "python3-nautilus"  # GNOME Files loads the right-click items' extension through it

sys.path.insert(0, str(Path(__file__).resolve().parent))
from render_icons import render  # noqa: E402


def version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def release_date() -> str:
    """The day of the source: $SOURCE_DATE_EPOCH (reproducible builds), else the last commit, else today."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return time.strftime("%Y-%m-%d", time.gmtime(int(epoch)))
    found = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%cs"], capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else time.strftime("%Y-%m-%d")


def architecture() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True, text=True).stdout.strip()


def stage_bundle(bundle: Path, root: Path) -> None:
    """The bundle as /usr/lib/timekeep, and /usr/bin links to its two programs."""
    if not (bundle / "timekeep").is_file() or not (bundle / "timekeep-gui").is_file():
        raise SystemExit(f"build-deb: {bundle} is not a Timekeep bundle (run installer/build-bundle)")
    shutil.copytree(bundle, root / LIB, symlinks=True)
    (root / "usr/bin").mkdir(parents=True)
    for name in ("timekeep", "timekeep-gui"):
        (root / "usr/bin" / name).symlink_to(Path("../lib/timekeep") / name)


def write_text(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def stage_desktop(root: Path, release: str) -> None:
    """Menu entry, metainfo, icons, and how the agent starts with a session (the unit is the one
    `timekeep agent --install` writes, read from this checkout, not from whatever copy the build's Python has)."""
    sources = ROOT / "resources" / "desktop"
    share = root / "usr/share"
    desktop = (sources / f"{APP_ID}.desktop").read_text(encoding="utf-8").replace("@GUI@", GUI)
    write_text(share / "applications" / f"{APP_ID}.desktop", desktop)
    metainfo = (sources / f"{APP_ID}.metainfo.xml").read_text(encoding="utf-8")
    metainfo = metainfo.replace("@VERSION@", release).replace("@DATE@", release_date())
    write_text(share / "metainfo" / f"{APP_ID}.metainfo.xml", metainfo)
    render(ROOT / "resources" / "timekeep.svg", share / "icons" / "hicolor", APP_ID)
    unit = (ROOT / "installer" / UNIT_NAME).read_text(encoding="utf-8").replace("@EXEC@", CLI).replace("@PROGRAM@", CLI)
    write_text(root / "usr/lib/systemd/user" / UNIT_NAME, unit)
    autostart = (sources / "timekeep-agent.desktop").read_text(encoding="utf-8").replace("@CLI@", CLI)
    write_text(root / "etc/xdg/autostart/timekeep-agent.desktop", autostart)


def places(folder: Path) -> list[tuple[Path, str]]:
    """The lines of `<folder>/places.tsv` ("FILE<TAB>DESTINATION under share/"); none while it is absent."""
    listing = folder / "places.tsv"
    if not listing.is_file():
        return []
    found = []
    for number, line in enumerate(listing.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        destination = Path(parts[-1].strip())
        if len(parts) != 2 or destination.is_absolute() or ".." in destination.parts:
            raise SystemExit(f"build-deb: {listing}:{number}: expected FILE<TAB>DESTINATION under share/")
        found.append((folder / parts[0].strip(), parts[1].strip()))
    return found


def stage_file_managers(folder: Path, share: Path, gui: str = GUI) -> list[Path]:
    """Install every file places.tsv names under `share`, with @GUI@ replaced by the command opening the app."""
    written = []
    for source, destination in places(folder):
        if not source.is_file():
            raise SystemExit(f"build-deb: {source}, listed in places.tsv, does not exist")
        target = share / destination
        write_text(target, source.read_text(encoding="utf-8").replace("@GUI@", gui))
        target.chmod(0o755 if os.access(source, os.X_OK) else 0o644)
        written.append(target)
    return written


def system_libraries() -> dict[str, list[str]]:
    """Depends and Recommends, from installer/system-libraries.tsv."""
    fields: dict[str, list[str]] = {"Depends": [], "Recommends": []}
    for line in (ROOT / "installer" / "system-libraries.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            _soname, package, field = line.split("\t")
            if package not in fields[field]:
                fields[field].append(package)
    return fields


def glibc_needed(folder: Path) -> str:
    """The newest GLIBC_x.y symbol version any program or library in `folder` asks for."""
    versions = set()
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.open("rb").read(4) == b"\x7fELF":
            found = subprocess.run(["readelf", "-V", str(path)], capture_output=True, text=True).stdout
            versions.update(re.findall(r"GLIBC_(\d+\.\d+(?:\.\d+)?)", found))
    return max(versions, key=lambda v: tuple(int(n) for n in v.split(".")))


def write_control(root: Path, release: str, arch: str) -> None:
    size_kib = sum(p.lstat().st_size for p in root.rglob("*") if not p.is_dir()) // 1024
    fields = system_libraries()
    glibc = glibc_needed(root / LIB)
    fields["Depends"] = [f"libc6 (>= {glibc})" if name == "libc6" else name for name in fields["Depends"]]
    control = (f"Package: timekeep\nVersion: {release}\nArchitecture: {arch}\nMaintainer: {MAINTAINER}\n"
               f"Installed-Size: {size_kib}\nDepends: {', '.join(fields['Depends'])}\n"
               f"Recommends: {', '.join(fields['Recommends'])}\nSuggests: {SUGGESTS}\n"
               "Section: utils\nPriority: optional\n"
               "Homepage: https://github.com/timekeep/timekeep\n"
               "Description: desktop time machine for personal files\n"
               " Timekeep keeps, on a backup drive, every version your chosen folders have been through, and\n"
               " lets you move through that history on a timeline and restore any file or folder byte-exact.\n")
    write_text(root / "DEBIAN" / "control", control)


def build(bundle: Path, out: Path, work: Path, file_managers: Path) -> Path:
    release, arch = version(), architecture()
    root = work / "root"
    shutil.rmtree(work, ignore_errors=True)
    root.mkdir(parents=True)
    stage_bundle(bundle, root)
    stage_desktop(root, release)
    stage_file_managers(file_managers, root / "usr/share")
    write_control(root, release, arch)
    out.mkdir(parents=True, exist_ok=True)
    package = out / f"timekeep_{release}_{arch}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zzstd", "-z3", "--build", str(root), str(package)],
                   check=True, stdout=subprocess.DEVNULL)
    return package


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build-deb", description=__doc__.splitlines()[0])
    dist = Path(os.environ.get("TIMEKEEP_DIST") or ROOT / "dist")
    work = Path(os.environ.get("TIMEKEEP_BUILD") or ROOT / "build") / "deb"
    parser.add_argument("--bundle", type=Path, default=dist / "timekeep")
    parser.add_argument("--out", type=Path, default=dist)
    parser.add_argument("--work", type=Path, default=work)
    parser.add_argument("--file-managers", type=Path, default=ROOT / "resources" / "file-managers")
    args = parser.parse_args(argv)
    print(build(args.bundle, args.out, args.work, args.file_managers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
