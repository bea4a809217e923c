"""Is the machine running on battery? Read from /sys/class/power_supply where the platform says."""

from __future__ import annotations

from pathlib import Path

POWER_SUPPLY = Path("/sys/class/power_supply")


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def on_battery(root: Path = POWER_SUPPLY) -> bool | None:
    """True on battery, False on mains, None when the platform does not tell (desktops, containers)."""
    try:
        supplies = list(root.iterdir())
    except OSError:
        return None
    mains = [s for s in supplies if _read(s / "type") in ("Mains", "USB", "USB_C", "USB_PD")]
    batteries = [s for s in supplies if _read(s / "type") == "Battery"]
    if any(_read(s / "online") == "1" for s in mains):
        return False
    if any(_read(s / "status") == "Discharging" for s in batteries):
        return True
    if mains and batteries:  # every adapter offline, the battery merely not discharging yet
        return True
    return None
