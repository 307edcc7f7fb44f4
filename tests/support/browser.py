"""Load a local HTML file in headless Chromium and report what a reader would see.

Drives Debian's ``chromium`` over the DevTools protocol (a websocket, via the
``websockets`` package Prefect already depends on): no Selenium or Playwright. The page
is loaded unmodified; console errors, uncaught exceptions, failed or blocked loads and
every request to a non-``data:``/``file:`` URL are recorded, then the images and
sections are read back from the live DOM, and optionally a full-page screenshot is taken.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)
PROBE = """(async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return {
    title: document.title,
    images: imgs.map(i => ({src: i.currentSrc.slice(0, 40), complete: i.complete,
                            naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight,
                            alt: i.alt})),
    sections: Array.from(document.querySelectorAll('section[id]')).map(s => s.id),
    text: document.body.innerText,
    height: Math.ceil(document.documentElement.scrollHeight),
  };
})()"""


@dataclass
class PageCheck:
    """What loading the page produced."""

    title: str
    images: list[dict[str, Any]]
    sections: list[str]
    text: str
    height: int
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def images_ok(self) -> int:
        """Images that finished loading with a real size."""
        return sum(1 for i in self.images if i["complete"] and i["naturalWidth"] > 0)


class _Session:
    """One CDP target session over the browser websocket (flat session mode)."""

    def __init__(self, ws: ClientConnection, timeout: float) -> None:
        self.ws = ws
        self.timeout = timeout
        self.next_id = 0
        self.session: str | None = None
        self.events: list[dict[str, Any]] = []

    def _recv(self, deadline: float) -> dict[str, Any]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("chromium did not answer in time")
        message: dict[str, Any] = json.loads(self.ws.recv(timeout=left))
        return message

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        request: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            request["sessionId"] = self.session
        self.ws.send(json.dumps(request))
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._recv(deadline)
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        seen = next((e for e in self.events if e["method"] == method), None)
        while seen is None:
            message = self._recv(deadline)
            if "method" in message:
                self.events.append(message)
                if message["method"] == method:
                    seen = message
        return seen


def _problems(events: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Errors (console, exceptions, failed loads, log errors) and external requests."""
    errors: list[str] = []
    requests: list[str] = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = params.get("args", [])
            errors.append("console: " + " ".join(str(a.get("value", a)) for a in args))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append("exception: " + str(details.get("exception", details)))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(f"log ({params['entry'].get('source')}): {params['entry'].get('text')}")
        elif method == "Network.loadingFailed":
            errors.append(f"load failed: {params.get('errorText')}")
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if not url.startswith(("data:", "file:", "about:")):
                requests.append(url)
    return errors, requests


def _wait_port(user_dir: Path, proc: subprocess.Popen[bytes], timeout: float) -> str:
    marker = user_dir / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists():
            lines = marker.read_text().split()
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode} before it listened")
        time.sleep(0.05)
    raise TimeoutError("chromium did not open its DevTools port")


def check_page(
    path: Path,
    screenshot: Path | None = None,
    width: int = 1280,
    chromium: str = CHROMIUM,
    timeout: float = 60.0,
) -> PageCheck:
    """Open ``path`` in headless Chromium, wait for ``load``, and read the page back.

    With ``screenshot``, also write a full-page PNG of the page at ``width`` CSS pixels.
    """
    exe = shutil.which(chromium) or chromium
    # Chromium's helper processes may still write to the profile for a moment after the
    # browser exits: it runs in its own process group, stopped as a whole, and a profile
    # file that appears during clean-up does not fail the check.
    with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as tmp:
        user_dir = Path(tmp)
        log = (user_dir / "stderr.log").open("wb")
        proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={user_dir}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**os.environ, "LANG": "en_US.UTF-8"},
            start_new_session=True,
        )
        try:
            url = _wait_port(user_dir, proc, timeout)
            with connect(url, max_size=None, proxy=None, open_timeout=timeout) as ws:
                return _drive(_Session(ws, timeout), path, screenshot, width)
        finally:
            _stop_group(proc)
            log.close()


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the browser and every process it started (its process group)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _drive(cdp: _Session, path: Path, screenshot: Path | None, width: int) -> PageCheck:
    target = cdp.send("Target.createTarget", url="about:blank")["targetId"]
    cdp.session = cdp.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        cdp.send(f"{domain}.enable")
    metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}
    cdp.send("Emulation.setDeviceMetricsOverride", **metrics)
    cdp.send("Page.navigate", url=path.resolve().as_uri())
    cdp.wait_for("Page.loadEventFired")
    result = cdp.send("Runtime.evaluate", expression=PROBE, awaitPromise=True, returnByValue=True)
    if "exceptionDetails" in result:
        raise RuntimeError(f"probe failed: {result['exceptionDetails']}")
    page = result["result"]["value"]
    if screenshot is not None:
        cdp.send("Emulation.setDeviceMetricsOverride", **{**metrics, "height": page["height"]})
        shot = cdp.send("Page.captureScreenshot", format="png")
        screenshot.write_bytes(base64.b64decode(shot["data"]))
    errors, requests = _problems(cdp.events)
    return PageCheck(
        title=page["title"],
        images=page["images"],
        sections=page["sections"],
        text=page["text"],
        height=page["height"],
        errors=errors,
        requests=requests,
    )
