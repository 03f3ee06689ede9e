"""Is there a screen to open a window on? Asked before Qt is touched.

Why: on a Linux machine with no X11 or Wayland session (SSH, a container, CI), creating a
QApplication makes Qt print a page about the "xcb" platform plugin and then abort the process
(SIGABRT, exit 134). A trader who typed ``sigma9`` on a server needs one line telling them what
to do instead, so the launcher checks the environment itself and exits with status 2.

Only Linux and the BSDs are judged: macOS and Windows always have their native platform, and
an explicit ``QT_QPA_PLATFORM`` (offscreen, vnc, eglfs, ...) means the user chose a platform and
Qt should be left to honour it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

NO_DISPLAY_HINT = (
    "sigma9: no display found (DISPLAY and WAYLAND_DISPLAY are unset): run without a window "
    "with `sigma9 --sim --headless --minutes N`, or set QT_QPA_PLATFORM=offscreen"
)

_X11_PLATFORMS = ("linux", "freebsd", "openbsd", "netbsd", "dragonfly", "sunos")


def display_problem(environ: Mapping[str, str] | None = None,
                    platform: str | None = None) -> str | None:
    """The one-line hint to print if a window cannot be opened here, else None."""
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith(_X11_PLATFORMS):
        return None
    if any(env.get(name, "").strip() for name in
           ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")):
        return None
    return NO_DISPLAY_HINT
