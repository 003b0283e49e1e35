"""What the browser scripts share: start `streamlit run app.py` on a free port, launch headless Chromium,
wait until a page is idle.

    from _browser import ROOT, Server, launch, wait_idle   # scripts/ is on sys.path when a script runs

`Server` is a context manager: it starts the app (log in test-output/server-<port>.log), waits for
/_stcore/health and stops the process tree's root on exit. `launch(playwright)` opens Debian's
/usr/bin/chromium (or $CHROMIUM) with flags that work in a container without a GPU.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class Server:
    def __init__(self, port: int = 0, log: Path | None = None, env: dict | None = None):
        if not port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        self.log = log or ROOT / "test-output" / f"server-{port}.log"
        self.env = {**os.environ, **(env or {})}

    def __enter__(self) -> "Server":
        self.log.parent.mkdir(exist_ok=True)
        self.fh = open(self.log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
             str(self.port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, stdout=self.fh, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(self.url + "/_stcore/health", timeout=2).read() == b"ok":
                    return self
            except OSError:
                time.sleep(0.3)
        self.__exit__()
        raise RuntimeError(f"the streamlit server did not start; see {self.log}")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.fh.close()


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)


def wait_idle(page, timeout_s: float = 180) -> None:
    """Return once the page has shown no 'Running…' widget or skeleton, and its done-marker, for 1.5 s."""
    deadline = time.time() + timeout_s
    quiet = None
    while time.time() < deadline:
        busy = (page.locator('[data-testid="stStatusWidget"]').count() > 0
                or page.locator('[data-testid="stSkeleton"]').count() > 0
                or page.locator(".st-key-lab_page_done").count() == 0)
        if busy:
            quiet = None
        elif quiet is None:
            quiet = time.time()
        elif time.time() - quiet > 1.5:
            return
        time.sleep(0.1)
    raise TimeoutError("page did not become idle")
