"""The console's browser packages from npm, served by Careline itself.

package.json and its lock file name them; `make install` runs `npm ci`, which puts them in node_modules (never
committed). The pages' Content-Security-Policy allows scripts from 'self' only, so a page loads a package's
built browser file from a console URL, not from a CDN. The URL carries the installed version (`?v=`), so a
browser may keep the file for a year and still gets a new one after an upgrade.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from flask import request, send_file
from flask.typing import ResponseReturnValue

from console.errors import VendorPackageMissing
from core.config import ROOT

log = logging.getLogger(__name__)

NODE_MODULES = ROOT / "node_modules"
VERSIONED_CACHE_SECONDS = 365 * 24 * 3600  # seconds a browser keeps a file asked for by its version
JAVASCRIPT = "text/javascript"  # RFC 9239; the console sends nosniff, so the type must be right


@dataclass(frozen=True)
class VendorScript:
    """One package's browser build: `file` inside the package's directory in node_modules."""

    package: str
    file: str

    def path(self) -> Path:
        """Where `npm ci` puts the file."""
        return NODE_MODULES / self.package / self.file

    def version(self) -> str | None:
        """The installed version (the package's package.json), or None when it is not installed."""
        try:
            return json.loads((NODE_MODULES / self.package / "package.json").read_text("utf-8")).get("version")
        except (OSError, ValueError):
            return None


# Twilio's Voice JavaScript SDK for the desk's softphone: the bundle defines the global `Twilio.Device`.
TWILIO_VOICE = VendorScript("@twilio/voice-sdk", "dist/twilio.min.js")


def send_script(script: VendorScript) -> ResponseReturnValue:
    """The script's file as JavaScript: kept a year when asked for by the installed version (`?v=`), else
    revalidated each time (ETag). VendorPackageMissing (404) when `npm ci` has not installed it."""
    path = script.path()
    if not path.is_file():
        log.error("console: %s is missing; run `make install` (npm ci) to install the browser packages", path)
        raise VendorPackageMissing(f"{script.package} is not installed on this server: run `make install` "
                                   "(npm ci) in Careline's directory.")
    version = script.version()
    pinned = version is not None and request.args.get("v") == version
    response = send_file(path, mimetype=JAVASCRIPT, max_age=VERSIONED_CACHE_SECONDS if pinned else 0,
                         conditional=True)
    if pinned:
        response.cache_control.immutable = True
    return response
