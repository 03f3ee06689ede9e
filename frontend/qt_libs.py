"""Can Qt's X11 platform plugin load here? Asked before Qt is touched, like ``display``.

Why: PyQt6's wheel bundles Qt but not the X11 client libraries its ``xcb`` platform plugin
links against. On a Debian or Ubuntu desktop without them, creating a QApplication prints
Qt's "could not load the Qt platform plugin "xcb"" page and aborts the process (SIGABRT).
Seen on Debian 12 for libxcb-cursor0, libxcb-icccm4 and libxcb-keysyms1 (issue 11); Qt's
own docs list the xcb plugin's dependencies ("Qt for X11 Requirements", doc.qt.io).

How: ``ldd`` on the wheel's ``libqxcb.so`` names every library the loader cannot find
("libxcb-icccm.so.4 => not found"); :data:`PACKAGES` turns each into the Debian/Ubuntu
package that ships it, so the one line printed is the install command. The table was made
with ``readelf -d`` on PyQt6 6.11's libqxcb.so, libQt6XcbQpa.so.6 and libQt6Gui.so.6 and
``dpkg -S`` on Debian 12; a library missing from it is named as is.

Judged only where the xcb plugin would be used: Linux/BSD with an X display and no other
platform chosen (``QT_QPA_PLATFORM`` unset or ``xcb``). Anything unexpected (no ldd, no
plugin file, a timeout) means "no problem found": Qt then speaks for itself.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
}
"""Soname -> the Debian/Ubuntu package that ships it (Ubuntu 24.04 names glib libglib2.0-0t64)."""

_X11_PLATFORMS = ("linux", "freebsd", "openbsd", "netbsd", "dragonfly", "sunos")


def uses_xcb(environ: Mapping[str, str], platform: str) -> bool:
    """Would Qt pick its xcb plugin here?"""
    if not platform.startswith(_X11_PLATFORMS):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "").strip().lower()
    if chosen:
        return chosen.startswith("xcb")
    return bool(environ.get("DISPLAY", "").strip())


def missing_from_ldd(output: str) -> list[str]:
    """The sonames ``ldd`` reports as ``not found``, once each, in its order."""
    missing = []
    for line in output.splitlines():
        name, _, where = line.strip().partition("=>")
        if where.strip() == "not found" and name.strip() not in missing:
            missing.append(name.strip())
    return missing


def install_hint(missing: list[str]) -> str:
    """The one line to print: what is missing and the command that installs it."""
    packages = list(dict.fromkeys(PACKAGES.get(name, name) for name in missing))
    return (f"sigma9: Qt cannot open a window: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing; install with: "
            f"sudo apt-get install {' '.join(packages)} (or run --headless)")


def xcb_plugin() -> Path | None:
    spec = importlib.util.find_spec("PyQt6")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "Qt6" / "plugins" / "platforms" / "libqxcb.so"
        if path.is_file():
            return path
    return None


def qt_platform_problem(environ: Mapping[str, str] | None = None,
                        platform: str | None = None, plugin: Path | None = None,
                        ldd: str = "ldd") -> str | None:
    """The install hint if Qt's xcb plugin would fail to load here, else None."""
    env = os.environ if environ is None else environ
    if not uses_xcb(env, sys.platform if platform is None else platform):
        return None
    plugin = plugin or xcb_plugin()
    if plugin is None:
        return None
    try:
        result = subprocess.run([ldd, str(plugin)], capture_output=True, text=True,
                                timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    missing = missing_from_ldd(result.stdout)
    return install_hint(missing) if missing else None
