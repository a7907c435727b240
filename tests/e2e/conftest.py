"""End-to-end fixtures: the real ``himitsu serve --demo`` in a subprocess, driven by headless Chromium.

The server gets its own HIMITSU_HOME and, when the run's HIMITSU_DATABASE_URL names PostgreSQL, its
own fresh database (dropped afterwards); otherwise it uses SQLite inside its HIMITSU_HOME. No Django
test database is involved.

Server and browser live for this package only (scope="package"): Playwright's sync API keeps an
event loop registered in the main thread, and Django's ORM refuses to run in the database tests
that come after these ones while that loop exists.

On a failing test a full-page screenshot goes to test-artifacts/<test name>.png and the server's
log lines written during the test are attached to the report.
"""

from __future__ import annotations

import gettext
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DEMO_PASSWORD = "E2e-" + secrets.token_urlsafe(18)
STARTUP_TIMEOUT = 60.0
ACTION_TIMEOUT_MS = 10_000
ARTIFACTS = "test-artifacts"
# 5xx answers (Django) and crashes outside Django (granian); 403/404 warnings with tracebacks are normal.
SERVER_PROBLEMS = ("Internal Server Error:", "Application callable raised an exception", "Unexpected exit from worker")


# --------------------------------------------------------------------------------------------------
# The server


@dataclass
class Server:
    url: str
    home: Path
    process: subprocess.Popen
    database_url: str | None = None
    stderr_path: Path = field(init=False)
    stdout_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.stderr_path = self.home / "server.stderr.log"
        self.stdout_path = self.home / "server.stdout.log"

    def log_size(self) -> int:
        return self.stderr_path.stat().st_size if self.stderr_path.exists() else 0

    def log_since(self, offset: int) -> str:
        if not self.stderr_path.exists():
            return ""
        with self.stderr_path.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode("utf-8", "replace")

    def output(self) -> str:
        parts = []
        for label, path in (("stdout", self.stdout_path), ("stderr", self.stderr_path)):
            text = path.read_text("utf-8", "replace") if path.exists() else ""
            parts.append(f"--- server {label} ---\n{text[-8000:]}")
        return "\n".join(parts)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _is_postgres(url: str) -> bool:
    return urlsplit(url).scheme.lower() in {"postgres", "postgresql", "pgsql"}


@contextmanager
def _server_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for the server when the run targets PostgreSQL, else None (SQLite)."""
    url = os.environ.get("HIMITSU_DATABASE_URL", "").strip()
    if not url or not _is_postgres(url):
        yield None
        return
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)._replace(scheme="postgresql")
    name = f"himitsu_e2e_{os.getpid()}"

    def connect() -> psycopg.Connection:
        try:
            return psycopg.connect(urlunsplit(parts), autocommit=True, connect_timeout=10)
        except psycopg.OperationalError:
            # The named database may not exist yet (pytest-django creates test_<name>): use the server's.
            return psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True,
                                   connect_timeout=10)

    with connect() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _wait_healthy(server: Server) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"`himitsu serve --demo` exited with {server.process.returncode} before answering "
                        f"/healthz.\n{server.output()}", pytrace=False)
        try:
            with opener.open(f"{server.url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except OSError as exc:
            last_error = str(exc)
        time.sleep(0.2)
    _stop(server.process)
    pytest.fail(f"`himitsu serve --demo` did not answer /healthz within {STARTUP_TIMEOUT:.0f} s "
                f"({last_error}).\n{server.output()}", pytrace=False)


@pytest.fixture(scope="package")
def server() -> Iterator[Server]:
    """`himitsu serve --demo` on a free port, with its own HIMITSU_HOME and database."""
    executable = Path(sys.executable).parent / "himitsu"
    if not executable.exists():
        pytest.fail(f"console script {executable} not found (pip install -e .)", pytrace=False)
    home = Path(tempfile.mkdtemp(prefix="himitsu-e2e-"))
    try:
        with _server_database() as database_url:
            env = {k: v for k, v in os.environ.items() if not k.startswith("HIMITSU_")}
            env.update({
                "HIMITSU_HOME": str(home),
                "HIMITSU_DEMO_PASSWORD": DEMO_PASSWORD,
                "HIMITSU_LANG": "ja",
                "PYTHONUNBUFFERED": "1",
                "PYTHONIOENCODING": "utf-8",
                "NO_COLOR": "1",
            })
            if database_url:
                env["HIMITSU_DATABASE_URL"] = database_url
            port = _free_port()
            stdout = (home / "server.stdout.log").open("wb")
            stderr = (home / "server.stderr.log").open("wb")
            with stdout, stderr:
                process = subprocess.Popen(
                    [str(executable), "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)],
                    env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, cwd=home,
                )
            srv = Server(url=f"http://127.0.0.1:{port}", home=home, process=process, database_url=database_url)
            try:
                _wait_healthy(srv)
                yield srv
            finally:
                _stop(process)
    finally:
        shutil.rmtree(home, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# The browser


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("HIMITSU_ALLOW_NO_BROWSER") == "1":
            pytest.skip(f"{CHROMIUM} is not installed (make browser)")
        pytest.fail(f"{CHROMIUM} is not installed: run `make browser` (or set HIMITSU_ALLOW_NO_BROWSER=1)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def new_context(browser: Any, server: Server, locale: str = "ja-JP") -> Any:
    """A fresh browser profile, by default a Japanese user's in Tokyo (close it when done)."""
    ctx = browser.new_context(base_url=server.url, locale=locale, timezone_id="Asia/Tokyo",
                              accept_downloads=True, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    ctx.set_default_navigation_timeout(ACTION_TIMEOUT_MS)
    return ctx


@pytest.fixture(scope="package")
def make_context(browser: Any, server: Server) -> Callable[..., Any]:
    """make_context(locale="ja-JP") -> a fresh browser context (close it yourself)."""
    return lambda locale="ja-JP": new_context(browser, server, locale)


@pytest.fixture
def context(make_context: Callable[..., Any]) -> Iterator[Any]:
    ctx = make_context()
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


@pytest.fixture
def new_page(make_context: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """new_page(locale="ja-JP") -> a page in a further, separate browser profile (another person)."""
    opened: list[Any] = []

    def _open(locale: str = "ja-JP") -> Any:
        ctx = make_context(locale)
        opened.append(ctx)
        page = ctx.new_page()
        _open.pages.append(page)  # type: ignore[attr-defined]
        return page

    _open.pages = []  # type: ignore[attr-defined]  # screenshotted too when the test fails
    try:
        yield _open
    finally:
        for ctx in opened:
            ctx.close()


# --------------------------------------------------------------------------------------------------
# Helpers


def do_login(page: Any, username: str, password: str | None = None, *, succeed: bool = True) -> Any:
    """Log in through the login form; returns the response of the form submission."""
    from playwright.sync_api import expect

    page.goto("/login/")
    form = page.locator("form:has(input[name=password])")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(DEMO_PASSWORD if password is None else password)
    with page.expect_navigation() as nav:
        form.locator("button[type=submit]").click()
    if succeed:
        expect(page).to_have_url(re.compile(r"^[^?#]*://[^/]+/$"))
        expect(page.locator("header form[action='/logout/']")).to_have_count(1)
    return nav.value


@pytest.fixture(scope="package")
def login() -> Callable[..., Any]:
    """login(page, username) logs in with the demo password (shadows the Django-client `login`)."""
    return do_login


@pytest.fixture(scope="package")
def ja() -> Callable[[str], str]:
    """ja(msgid) -> the Japanese text the UI shows for msgid (the msgid itself while untranslated)."""
    import himitsu

    mo = Path(himitsu.__file__).parent / "locale" / "ja" / "LC_MESSAGES" / "django.mo"
    catalogue: gettext.NullTranslations
    if mo.exists():
        with mo.open("rb") as fh:
            catalogue = gettext.GNUTranslations(fh)
    else:
        catalogue = gettext.NullTranslations()
    return catalogue.gettext


@dataclass
class Demo:
    """The demo company as written in catalog/demo_company.yaml (what the server loaded)."""

    data: dict[str, Any]

    def user(self, username: str) -> dict[str, Any]:
        found = [u for u in self.data["users"] if u["username"] == username]
        assert found, f"{username} is not a user of the demo company"
        return found[0]

    def numbers(self) -> set[str]:
        return {s["management_number"] for s in self.data["secrets"]}

    def granted_to(self, username: str) -> set[str]:
        """Entries granted to this person directly or through a group (an employee's whole view)."""
        groups = {g["name"] for g in self.data["groups"] if username in (g.get("members") or [])}
        return {s["management_number"] for s in self.data["secrets"]
                if username in (s.get("allowed_users") or []) or groups & set(s.get("allowed_groups") or [])}


@pytest.fixture(scope="package")
def demo() -> Demo:
    import yaml

    import himitsu

    path = Path(himitsu.__file__).parent / "catalog" / "demo_company.yaml"
    with path.open(encoding="utf-8") as fh:
        return Demo(yaml.safe_load(fh))


# --------------------------------------------------------------------------------------------------
# Failure evidence: screenshot + server log


@pytest.fixture(autouse=True)
def _server_log_watch(request: pytest.FixtureRequest) -> Iterator[None]:
    """Remember where the server log stood, so a failure can show what the server said meanwhile."""
    if "server" not in request.fixturenames:
        yield
        return
    srv: Server = request.getfixturevalue("server")
    request.node.stash[_LOG_OFFSET] = (srv, srv.log_size())
    yield
    text = srv.log_since(request.node.stash[_LOG_OFFSET][1])
    if request.node.stash.get(_CALL_FAILED, False):
        return  # the failure report already carries the server log
    if any(p in text for p in SERVER_PROBLEMS):
        pytest.fail(f"the server logged an error during this test:\n{text[-6000:]}", pytrace=False)


_LOG_OFFSET = pytest.StashKey[tuple[Server, int]]()
_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_CALL_FAILED] = True
        funcargs = getattr(item, "funcargs", {})
        pages = [funcargs["page"]] if funcargs.get("page") is not None else []
        pages += getattr(funcargs.get("new_page"), "pages", [])
        stem = re.sub(r"[^\w.\[\]-]+", "_", item.name)
        for index, page in enumerate(pages):
            target = Path(item.config.rootpath) / ARTIFACTS / f"{stem}{f'-{index + 1}' if index else ''}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(target), full_page=True)
                report.sections.append(("screenshot", f"{target} ({page.url})"))
            except Exception as exc:  # the page may have crashed: the report must still come out
                report.sections.append(("screenshot", f"could not save {target}: {exc}"))
        stashed = item.stash.get(_LOG_OFFSET, None)
        if stashed is not None:
            srv, offset = stashed
            text = srv.log_since(offset)
            if text.strip():
                report.sections.append(("server log during the test", text[-6000:]))
    return report
