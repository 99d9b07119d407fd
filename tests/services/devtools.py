"""Drive headless Chromium through its DevTools protocol: click through a page, read what it shows.

Chromium speaks the protocol over a pipe (``--remote-debugging-pipe``: it reads
commands on fd 3, writes replies and events on fd 4, each a JSON message ended
by a NUL byte), so no websocket client and no listening port are needed. The
network is blocked as in :mod:`tests.services.chromium`. Every JavaScript error
of the page and of its frames (uncaught exceptions, ``console.error``, errors
the browser logs, such as a refused frame) is collected in ``errors``.

    with Browser(folder) as browser:
        browser.open(url)
        browser.wait_for("document.querySelector('nav') !== null")
        browser.evaluate("document.title")
"""

import contextlib
import fcntl
import json
import os
import subprocess
import time
from pathlib import Path

from tests.services.chromium import command


class DevToolsError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page; ``errors`` lists the page's JavaScript errors."""

    def __init__(self, folder: Path, window: tuple[int, int] = (1400, 1000), timeout: float = 30):
        self.folder = Path(folder)
        self.window = window
        self.timeout = timeout
        self.errors: list[str] = []
        self.contexts: dict[int, str] = {}  # execution context id -> frame id (default worlds only)
        self._next_id = 0
        self._buffer = b""
        self._events: list[dict] = []

    # -- process and pipe -------------------------------------------------------------------

    def __enter__(self) -> "Browser":
        self.folder.mkdir(parents=True, exist_ok=True)
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # The child sees the pipe ends as fds 3 and 4: moved above 10 first, so neither lands on
        # the other's number, then duplicated down (after fork, before the other fds are closed).
        fds = (to_browser_read, from_browser_write)

        def wire():
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in fds]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self._process = subprocess.Popen(
            [
                *command(self.folder),
                f"--window-size={self.window[0]},{self.window[1]}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=wire,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        try:
            self._attach()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        process = getattr(self, "_process", None)
        if process is None:
            return
        with contextlib.suppress(OSError):
            self._send("Browser.close", session=False, wait=False)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._process = None

    def _read_message(self, deadline: float) -> dict:
        import select

        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no message from Chromium")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise DevToolsError("Chromium closed its DevTools pipe")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _handle_event(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            description = details.get("exception", {}).get("description") or details.get("text")
            self.errors.append(
                f"exception: {description} ({details.get('url', '')}:{details.get('lineNumber')})"
            )
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(
                str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", [])
            )
            self.errors.append(f"console.{params['type']}: {args}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}")
        elif method == "Runtime.executionContextCreated":
            context = params["context"]
            aux = context.get("auxData", {})
            if aux.get("isDefault"):
                self.contexts[context["id"]] = aux.get("frameId")
        elif method == "Runtime.executionContextDestroyed":
            self.contexts.pop(params["executionContextId"], None)
        elif method == "Runtime.executionContextsCleared":
            self.contexts.clear()
        self._events.append(message)

    def _send(self, method: str, params: dict | None = None, session: bool = True, wait: bool = True) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        if not wait:
            return {}
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise DevToolsError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._handle_event(reply)

    def _attach(self) -> None:
        targets = self._send("Target.getTargets", session=False)["targetInfos"]
        page = next(target for target in targets if target["type"] == "page")
        self.target = page["targetId"]
        self._session = self._send(
            "Target.attachToTarget", {"targetId": self.target, "flatten": True}, session=False
        )["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self._send(f"{domain}.enable")

    # -- what tests use ---------------------------------------------------------------------

    def pump(self, seconds: float = 0.0) -> None:
        """Handle the events Chromium sent (and those it sends within ``seconds``)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                message = self._read_message(max(deadline, time.monotonic() + 0.01))
            except TimeoutError:
                return
            if "method" in message:
                self._handle_event(message)

    def open(self, url: str, ready: str = "document.readyState === 'complete'") -> None:
        """Load ``url`` and wait until the page is loaded and ``ready`` is true."""
        self.contexts.clear()
        self._send("Page.navigate", {"url": url})
        self.wait_for(ready)

    def evaluate(self, expression: str, frame: str | None = None, await_promise: bool = False):
        """The JSON value of ``expression`` in the page, or in the frame with id ``frame``."""
        params = {"expression": expression, "returnByValue": True, "awaitPromise": await_promise}
        if frame is not None:
            contexts = [cid for cid, fid in self.contexts.items() if fid == frame]
            if not contexts:
                raise DevToolsError(f"no script context in frame {frame}")
            params["contextId"] = max(contexts)
        result = self._send("Runtime.evaluate", params)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise DevToolsError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    def wait_for(self, expression: str, frame: str | None = None, timeout: float | None = None):
        """Poll ``expression`` until it is truthy; return its value (TimeoutError with the last one)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        value = None
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression, frame)
            except DevToolsError as error:  # the frame is not there (yet), or is reloading
                value = error
            else:
                if value:
                    return value
            self.pump(0.1)
        raise TimeoutError(f"{expression!r} stayed {value!r}")

    def frames(self) -> list[dict]:
        """Every frame below the page's main frame: ``{"id", "url", "name"}``."""
        tree = self._send("Page.getFrameTree")["frameTree"]
        found = []

        def walk(node):
            for child in node.get("childFrames", []):
                frame = child["frame"]
                found.append({"id": frame["id"], "url": frame.get("url", ""), "name": frame.get("name", "")})
                walk(child)

        walk(tree)
        return found

    def screenshot(self, path: Path) -> Path:
        import base64

        data = self._send("Page.captureScreenshot", {"format": "png"})["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def wait_for_value(self, function, timeout: float | None = None):
        """Poll the Python ``function`` (handling events meanwhile) until it returns something truthy."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            value = function()
            if value:
                return value
            self.pump(0.1)
        raise TimeoutError(f"{function} stayed {value!r}")
