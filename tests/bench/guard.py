"""Outbound guard benchmark (issue 6, `make bench`): `.venv/bin/python -m tests.bench.guard`, Markdown on stdout.

- A 100,000-document index (``tests.bench.detect_speed.build_large_index``: 5 KB slices of the registered and
  background pages of ../shared/corpus/python-docs-ja, later copies salted into distinct documents) behind a
  real :class:`~himitsu.gateways.base.EngineGuard` with the default policy.
- AI gateway: the gateway (``AiGateway``, this process) in front of a stand-in provider (an aiohttp server in
  its own process that answers a fixed completion at once). A load generator in a second process sends
  ``--rate`` requests per second, open loop (request i leaves at t0 + i / rate whatever the answers do), for
  ``--seconds``: 4 KB prompts cut from unrelated test pages, one in ten with 1 KB of a registered slice in the
  middle (blocked: the gateway answers without the provider). The same load goes first straight to the
  provider: latency added = gateway minus direct, at each percentile.
- Check API (``POST /api/v1/check``): the web app (``himitsu serve``, granian; 1 and 2 server processes) on a fresh
  HIMITSU_HOME whose index holds the same 100,000 documents, the same open-loop load with an API token; each
  process count ``--repeat`` times (default 3), interleaved, a fresh server each time; the median of the runs' p99
  is the figure (one run's p99 swings with the rest of the machine). Every load (here and for the AI gateway) is
  preceded by a warm-up: 20 requests one by one, then four rounds of 32 at once, so every server thread has its
  database connection before the measured requests.
- Mail relay: ``MailRelay`` (this process) relaying to a counting SMTP sink (its own process); a sender
  process with ``--mail-connections`` smtplib connections sends ``--mail-messages`` messages, each with a
  100 KB attachment (unrelated page text, one in ten with a registered excerpt: rejected with 550); messages per
  second from the first connect to the last reply, and every message accounted for (relayed or rejected).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import smtplib
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.bench.detect_data import KEY, SEED, byte_pieces, load_split, machine_reference, percentile, section, table
from tests.bench.detect_speed import DOC_BYTES, N_DOCS, PROMPT_BYTES, build_large_index

ROOT = Path(__file__).resolve().parents[2]
TARGET_RATE = 200
TARGET_ADDED_P99_MS = 15.0
TARGET_MAIL_PER_S = 50.0
ATTACHMENT_BYTES = 100 * 1024
#: warm-up requests sent at once, four times after 20 one by one: more than a server's threads in all its processes
#: (2 × 8), so that every thread has opened its database connection before the measured requests
WARM_CONCURRENT = 32


def log(message: str) -> None:
    print(f"<!-- {message} -->", file=sys.stderr, flush=True)


# -- inputs -------------------------------------------------------------------------------------------


def prompts(n: int) -> tuple[list[str], list[str]]:
    """(``n`` 4 KB prompts, one in ten carrying 1 KB of a registered slice; the registered 5 KB slices)."""
    split = load_split()
    base = [s for d in split.registered + split.background for s in byte_pieces(d.text, DOC_BYTES)]
    unrelated = [p for d in split.test for p in byte_pieces(d.text, PROMPT_BYTES)]
    rnd = random.Random(SEED)
    out = []
    for i in range(n):
        text = rnd.choice(unrelated)
        if i % 10 == 9:
            data = text.encode()
            excerpt = rnd.choice(base).encode()[1024:2048]
            text = (data[:1536] + excerpt + data[-1536:]).decode("utf-8", "ignore")
        out.append(text)
    return out, base


def attachments(n: int, engine: Any, base: list[str]) -> list[tuple[str, bytes, bool]]:
    """``n`` (name, ~100 KB of UTF-8 text, carries a registered excerpt) attachments: windows of the unrelated
    test pages in which the engine finds no registered secret (pages that repeat a paragraph of an indexed page,
    as the documentation often does, are left out beforehand, so that unplanted mail is clean mail), one in ten
    with 1,000 characters of a registered 5 KB slice (``base``: what the index holds) in the middle."""
    split = load_split()
    clean = [d.text for d in split.test
             if not any(f.detector == "registered-secret" for f in engine.check_text(d.text).findings)]
    data = "\n".join(clean).encode()
    registered = [piece for piece in base if len(piece) >= 1500]
    rnd = random.Random(SEED + 1)
    out = []
    for i in range(n):
        at = rnd.randrange(0, len(data) - ATTACHMENT_BYTES)
        body = data[at: at + ATTACHMENT_BYTES].decode("utf-8", "ignore")
        planted = i % 10 == 9
        if planted:
            secret = rnd.choice(registered)
            body = body[:20000] + secret[500:1500] + body[20000:]
        out.append((f"資料{i:04d}.txt", body.encode(), planted))
    return out


# -- the stand-in provider and the SMTP sink (processes of their own) -----------------------------------


def _provider(port: Any, ready: Any, stop: Any) -> None:
    from aiohttp import web

    answer = {"id": "x", "object": "chat.completion", "created": 0, "model": "bench",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "了解しました。"},
                           "finish_reason": "stop"}], "usage": {"prompt_tokens": 0, "completion_tokens": 0}}

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(answer)

    async def main() -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port.value = runner.addresses[0][1]
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await runner.cleanup()

    asyncio.run(main())


def _sink(port: Any, ready: Any, stop: Any, count: Any) -> None:
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            with count.get_lock():
                count.value += 1
            return "250 OK"

    import socket

    with socket.socket() as probe:  # a free port (the Controller checks readiness by connecting to it)
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=free, data_size_limit=64 * 1024 * 1024)
    controller.start()
    port.value = free
    ready.set()
    stop.wait()
    controller.stop()


def _start(target: Any, *args: Any) -> tuple[multiprocessing.Process, Any, Any]:
    ctx = multiprocessing.get_context("spawn")
    port, ready, stop = ctx.Value("i", 0), ctx.Event(), ctx.Event()
    proc = ctx.Process(target=target, args=(port, ready, stop, *args), daemon=True)
    proc.start()
    if not ready.wait(60):
        raise RuntimeError(f"{target.__name__} did not start")
    return proc, port.value, stop


# -- the load generator (a process of its own) -------------------------------------------------------------


def _load(url: str, headers: dict[str, str], bodies: list[bytes], rate: float, seconds: float, out: Any) -> None:
    import aiohttp

    async def main() -> list[tuple[float, int, str]]:
        results: list[tuple[float, int, str]] = []
        connector = aiohttp.TCPConnector(limit=256)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            async def one(body: bytes) -> None:
                t0 = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as r:
                        await r.read()
                        results.append(((time.perf_counter() - t0) * 1000, r.status,
                                        r.headers.get("X-Himitsu-Decision", "")))
                except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the run
                    results.append(((time.perf_counter() - t0) * 1000, 0, type(exc).__name__))

            for body in bodies[:20]:  # warm-up, not counted
                await one(body)
            for start in range(20, 20 + 4 * WARM_CONCURRENT, WARM_CONCURRENT):  # every server thread, each process
                await asyncio.gather(*(one(body) for body in bodies[start:start + WARM_CONCURRENT]))
            results.clear()
            n = int(rate * seconds)
            start = time.perf_counter()
            tasks = []
            for i in range(n):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(bodies[i % len(bodies)])))
            await asyncio.gather(*tasks)
        return results

    out.put(asyncio.run(main()))


def load(url: str, headers: dict[str, str], bodies: list[bytes], rate: float, seconds: float) -> list[tuple]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_load, args=(url, headers, bodies, rate, seconds, out), daemon=True)
    proc.start()
    results = out.get(timeout=seconds + 120)
    proc.join(30)
    return results


def summary(label: str, results: list[tuple], direct: list[float] | None = None) -> list[list[object]]:
    rows = []
    groups: dict[str, list[tuple]] = {"all": results}
    for r in results:
        if r[2]:
            groups.setdefault(r[2], []).append(r)
    for name, members in groups.items():
        lat = sorted(m[0] for m in members)
        errors = sum(1 for m in members if not 200 <= m[1] < 300)
        row: list[object] = [label, name, len(lat), errors, f"{percentile(lat, 0.5):.1f}",
                             f"{percentile(lat, 0.95):.1f}", f"{percentile(lat, 0.99):.1f}", f"{lat[-1]:.1f}"]
        if direct is not None and name == "all":
            row.append(f"{percentile(lat, 0.5) - percentile(direct, 0.5):.1f} / "
                       f"{percentile(lat, 0.99) - percentile(direct, 0.99):.1f}")
        else:
            row.append("–")
        rows.append(row)
    return rows


# -- runs ----------------------------------------------------------------------------------------------------


def bench_guard(index_dir: str) -> Any:
    """The guard of the benchmark: the 100,000-document index, every document 極秘, the default policy (also
    built in each worker process of a CheckPool)."""
    from himitsu.engine.check import Engine
    from himitsu.engine.model import SecretRef
    from himitsu.engine.policy import default_policy
    from himitsu.gateways.base import EngineGuard, Identity

    engine = Engine(index_dir=index_dir, key=KEY, resolve=lambda i: SecretRef(i, f"doc {i}", "極秘"))
    engine.prepare()  # as a serving process does before its first request (services.warm_up)
    return EngineGuard(engine, default_policy(), identities={"bench-token": Identity("bench", "DEV", "ja")})


def run_ai(index_dir: str, texts: list[str], rate: float, seconds: float, pool: Any) -> list[list[object]]:
    from himitsu.gateways.ai import AiConfig, AiGateway

    proc, port, stop = _start(_provider)
    try:
        guard = bench_guard(index_dir)
        gateway = AiGateway(guard, AiConfig(upstream=f"http://127.0.0.1:{port}/v1", upstream_key="k", port=0), pool)
        gateway.start()
        try:
            bodies = [json.dumps({"model": "bench", "messages": [{"role": "user", "content": t}]},
                                 ensure_ascii=False).encode() for t in texts]
            headers = {"Content-Type": "application/json", "Authorization": "Bearer bench-token"}
            log(f"AI: {rate:.0f} requests/s for {seconds:.0f} s straight to the provider ...")
            direct = load(f"http://127.0.0.1:{port}/v1/chat/completions", headers, bodies, rate, seconds)
            log("AI: the same through the gateway ...")
            through = load(f"http://127.0.0.1:{gateway.port}/v1/chat/completions", headers, bodies, rate, seconds)
        finally:
            gateway.stop()
    finally:
        stop.set()
        proc.join(10)
    direct_lat = sorted(r[0] for r in direct)
    return summary("straight to the provider", direct) + summary("through the AI gateway", through, direct_lat)


_SETUP_WEB = """
import sys
from himitsu.cli import runtime
runtime.setup()
from himitsu.web.accounts.models import Department
from himitsu.web.register.models import ClassificationLevel, Secret, SecretDocument
from himitsu.web.guard import services
from himitsu.web.register.services import Context
from himitsu.web.accounts.access import system_actor
dept = Department.objects.create(code="DEV", name="開発部", name_en="Development")
secret = Secret.objects.create(management_number="BENCH-1", title="bench", category="technical",
                               level=ClassificationLevel.objects.get(code="gokuhi"), owner_department=dept)
n = int(sys.argv[1])
for start in range(0, n, 5000):
    SecretDocument.objects.bulk_create([SecretDocument(pk=i + 1, secret=secret, filename=f"doc{i}.txt", size=5120,
                                                       sha256="0" * 64) for i in range(start, min(n, start + 5000))])
_row, token = services.create_token(Context(actor=system_actor(), channel="cli"), "bench", ["check", "ai"])
print(token)
"""


def _web_index(web_index: str) -> None:
    """The web app's index: the same documents with ids 1..N (register rows start at 1)."""
    from himitsu.engine.check import Engine
    from himitsu.engine.fingerprint import DEFAULT_K, DEFAULT_W

    split = load_split()
    base = [s for d in split.registered + split.background for s in byte_pieces(d.text, DOC_BYTES)]
    engine = Engine(index_dir=web_index, key=KEY, k=DEFAULT_K, w=DEFAULT_W)
    build_large_index(engine, base, first_id=1)


@contextlib.contextmanager
def _web_home(database_url: str = "") -> Any:
    """A fresh HIMITSU_HOME whose register holds the 100,000 documents and an API token (scopes check and ai), on
    the embedded SQLite database or on ``database_url`` (an empty PostgreSQL database): yields (env, token)."""
    import subprocess

    with tempfile.TemporaryDirectory(prefix="himitsu-bench-web-") as web:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HIMITSU_")}
        env |= {"HIMITSU_HOME": f"{web}/home", "HIMITSU_INDEX_DIR": f"{web}/index",
                "HIMITSU_FINGERPRINT_KEY": KEY.decode(), "HIMITSU_GUARD_RATE": "100000",
                "HIMITSU_GUARD_BURST": "100000"}
        if database_url:
            env["HIMITSU_DATABASE_URL"] = database_url
            _empty(database_url)
        log("the web app's index and database ...")
        _web_index(f"{web}/index")
        setup = subprocess.run([sys.executable, "-c", _SETUP_WEB, str(N_DOCS)], env=env, capture_output=True,
                               text=True, timeout=600, check=True)
        yield env, setup.stdout.split()[-1]


def _empty(database_url: str) -> None:
    """The benchmark's PostgreSQL database made empty again (its schema ``public`` dropped and made anew): each
    deployment the benchmark measures starts from nothing."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def run_check_api(texts: list[str], rate: float, seconds: float, processes: list[int], repeat: int,
                  database_url: str = "") -> tuple[list[list[object]], list[list[object]]]:
    """POST /api/v1/check on the web app (``himitsu serve``: granian, its own processes) with an API token, each
    process count ``repeat`` times, interleaved (a fresh server each time): the rows of every run, and per process
    count the p99 of each run with their median (one run's p99 swings with the machine's other load)."""
    import subprocess

    rows: list[list[object]] = []
    p99s: dict[int, list[float]] = {count: [] for count in processes}
    errors: dict[int, int] = dict.fromkeys(processes, 0)
    where = "PostgreSQL" if database_url else "SQLite"
    with _web_home(database_url) as (env, token):
        himitsu = str(Path(sys.executable).with_name("himitsu"))
        bodies = [json.dumps({"text": t, "channel": "api"}, ensure_ascii=False).encode() for t in texts]
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        for run in range(1, repeat + 1):
            for count in processes:
                port = _free_port()
                server = subprocess.Popen([himitsu, "serve", "--host", "127.0.0.1", "--port", str(port),
                                           "--processes", str(count)], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE)
                try:
                    _wait(port, server)
                    log(f"check API, {where}, {count} server process(es), run {run}: {rate:.0f} requests/s for "
                        f"{seconds:.0f} s ...")
                    results = load(f"http://127.0.0.1:{port}/api/v1/check", headers, bodies, rate, seconds)
                finally:
                    server.terminate()
                    server.wait(30)
                rows += summary(f"POST /api/v1/check, {where}, {count} server process(es), run {run}",
                                [(r[0], r[1], "") for r in results])
                p99s[count].append(percentile(sorted(r[0] for r in results), 0.99))
                errors[count] += sum(1 for r in results if not 200 <= r[1] < 300)
    medians = [[f"POST /api/v1/check, {where}, {count} server process(es)", len(p99s[count]),
                ", ".join(f"{v:.1f}" for v in p99s[count]), f"{sorted(p99s[count])[len(p99s[count]) // 2]:.1f}",
                errors[count]] for count in processes]
    return rows, medians


def run_ai_deployed(texts: list[str], rate: float, seconds: float, database_url: str = "") -> list[list[object]]:
    """The AI gateway as it is deployed: ``himitsu guard serve`` (its own process) with the web app's guard, which
    records every decision in the database, in front of the stand-in provider; checks in threads."""
    import subprocess

    rows: list[list[object]] = []
    proc, provider, stop = _start(_provider)
    try:
        with _web_home(database_url) as (env, token):
            port = _free_port()
            env = env | {"HIMITSU_AI_UPSTREAM": f"http://127.0.0.1:{provider}/v1", "HIMITSU_AI_PORT": str(port)}
            himitsu = str(Path(sys.executable).with_name("himitsu"))
            server = subprocess.Popen([himitsu, "guard", "serve"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
            bodies = [json.dumps({"model": "bench", "messages": [{"role": "user", "content": t}]},
                                 ensure_ascii=False).encode() for t in texts]
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
            try:
                _wait(port, server)
                log(f"AI gateway as deployed: {rate:.0f} requests/s for {seconds:.0f} s ...")
                direct = load(f"http://127.0.0.1:{provider}/v1/chat/completions", headers, bodies, rate, seconds)
                through = load(f"http://127.0.0.1:{port}/v1/chat/completions", headers, bodies, rate, seconds)
            finally:
                server.terminate()
                server.wait(30)
            where = "PostgreSQL" if database_url else "SQLite"
            rows += summary("straight to the provider", direct)
            rows += summary(f"himitsu guard serve, decisions recorded ({where})", through,
                            sorted(r[0] for r in direct))
    finally:
        stop.set()
        proc.join(10)
    return rows


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(port: int, proc: Any, seconds: float = 120) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the web app exited: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise RuntimeError("the web app did not start")


def run_mail(index_dir: str, base: list[str], n: int, connections: int, pool: Any) -> list[list[object]]:
    from himitsu.gateways.mail import MailConfig, MailRelay
    from himitsu.gateways.smtp_out import NextHop

    ctx = multiprocessing.get_context("spawn")
    count = ctx.Value("i", 0)
    proc, port, stop = _start(_sink, count)
    guard = bench_guard(index_dir)
    files = attachments(n, guard.engine, base)
    messages = []
    for i, (name, data, planted) in enumerate(files):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "sender@example.co.jp", f"to{i}@example.net", f"資料送付 {i}"
        msg.set_content("資料を添付します。ご確認ください。")
        msg.add_attachment(data, maintype="text", subtype="plain", filename=name)
        messages.append((msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")), planted))  # SMTP: CRLF
    try:
        relay = MailRelay(guard, MailConfig(next_hop=NextHop("127.0.0.1", port, starttls="off"),
                                            notify_from="himitsu@example.co.jp", port=0, notify=False), pool)
        relay.start()
        try:
            log(f"mail: {n} messages over {connections} connections (a process of their own) ...")
            cpu0 = _cpu_seconds()
            outcome, wall = _send_all(relay.port, messages, connections)
            cpu1 = _cpu_seconds()
            cpu = {k: cpu1[k] - cpu0[k] for k in cpu1}
        finally:
            relay.stop()
    finally:
        stop.set()
        proc.join(10)
    relayed = sum(1 for code, _ in outcome if code == 250)
    rejected = sum(1 for code, planted in outcome if code == 550 and planted)
    other = len(outcome) - relayed - rejected
    codes = sorted({code for code, _ in outcome})
    if other:
        log(f"mail: reply codes seen {codes}")
    where = f"{pool.workers} worker processes" if pool is not None else "threads of the relay's process"
    log(f"mail: CPU per message: relay process {cpu['self'] / n * 1000:.1f} ms, check workers "
        f"{cpu['workers'] / n * 1000:.1f} ms (the sender and the sink are not counted)")
    return [[f"{n} messages, {connections} connections, checks in {where}", f"{wall:.1f}", f"{n / wall:.1f}",
             relayed, count.value, rejected, other]]


def _cpu_seconds() -> dict[str, float]:
    """CPU seconds, from /proc, of this process (the relay) and of the check workers (a CheckPool's processes:
    children of the forkserver this process started)."""
    tick = os.sysconf("SC_CLK_TCK")
    own = os.times()
    stats: dict[int, tuple[int, float, str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = stat.parent.joinpath("cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        stats[int(stat.parent.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, cmdline)
    servers = {pid for pid, (parent, _cpu, cmd) in stats.items() if parent == os.getpid() and "forkserver" in cmd}
    workers = sum(cpu for parent, cpu, _cmd in stats.values() if parent in servers)
    return {"self": own.user + own.system, "workers": workers}


def _send(port: int, messages: list[tuple[bytes, bool]], connections: int, out: Any) -> None:
    """The sending side: ``connections`` smtplib clients in threads of this process (not the relay's)."""
    outcome: list[tuple[int, bool]] = []
    lock = threading.Lock()

    def sender(part: list[tuple[bytes, bool]]) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
            for data, planted in part:
                try:
                    smtp.sendmail("sender@example.co.jp", ["to@example.net"], data)
                    code = 250
                except smtplib.SMTPResponseException as exc:
                    code = exc.smtp_code
                    smtp.rset()
                except smtplib.SMTPRecipientsRefused as exc:
                    code = min(c for c, _ in exc.recipients.values())
                    smtp.rset()
                with lock:
                    outcome.append((code, planted))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=sender, args=(messages[i::connections],)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((outcome, time.perf_counter() - t0))


def _send_all(port: int, messages: list[tuple[bytes, bool]], connections: int) -> tuple[list[tuple[int, bool]],
                                                                                         float]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_send, args=(port, messages, connections, out), daemon=True)
    proc.start()
    outcome, wall = out.get(timeout=900)
    proc.join(30)
    return outcome, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=TARGET_RATE)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--mail-messages", type=int, default=500)
    parser.add_argument("--mail-connections", type=int, default=8)
    parser.add_argument("--only", choices=["ai", "api", "mail"], help="run one part only")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL", ""),
                        help="a PostgreSQL database for second runs of the check API and the AI gateway as deployed, "
                             "emptied before each (BENCH_POSTGRES_URL)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each check-API configuration (interleaved)")
    parser.add_argument("--workers", type=lambda v: [int(x) for x in v.split(",")], default=[0, 2],
                        help="check workers, comma-separated (0: threads of the gateway's process)")
    args = parser.parse_args()
    from himitsu.engine.check import Engine
    from himitsu.engine.fingerprint import DEFAULT_K, DEFAULT_W

    section("Outbound guard (issue 6)",
            "Method: see the module docstring of tests/bench/guard.py. "
            f"{N_DOCS:,} registered documents, default policy, 4 KB prompts, open loop at {args.rate:.0f} "
            f"requests/s for {args.seconds:.0f} s after {20 + 4 * WARM_CONCURRENT} warm-up requests (20 one by one, "
            f"then 4 rounds of {WARM_CONCURRENT} at once); latency from the load generator's "
            "side (a process of its own on the same 2 cores).", machine_reference())
    started = time.perf_counter()
    texts, base = prompts(2000)
    from himitsu.gateways.pool import CheckPool

    with tempfile.TemporaryDirectory(prefix="himitsu-bench-guard-") as tmp:
        log(f"building the {N_DOCS:,}-document index ...")
        build_large_index(Engine(index_dir=tmp, key=KEY, k=DEFAULT_K, w=DEFAULT_W), base)
        for workers in args.workers:
            pool = CheckPool(bench_guard, (tmp,), workers=workers) if workers else None
            try:
                if args.only in (None, "ai"):
                    table(["run", "decision", "requests", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms",
                           "added p50 / p99 ms"], run_ai(tmp, texts, args.rate, args.seconds, pool))
                if args.only in (None, "ai") and not workers:  # as deployed: its own process, records kept
                    for url in ["", args.postgres] if args.postgres else [""]:
                        table(["run", "decision", "requests", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms",
                               "added p50 / p99 ms"], run_ai_deployed(texts, args.rate, args.seconds, url))
                if args.only in (None, "api") and not workers:  # the web app runs its own processes
                    for url in ["", args.postgres] if args.postgres else [""]:
                        runs, medians = run_check_api(texts, args.rate, args.seconds, [1, 2], args.repeat, url)
                        table(["run", "decision", "requests", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms",
                               "added p50 / p99 ms"], runs)
                        table(["check API", "runs", "p99 ms of each run", "median p99 ms", "errors"], medians)
                if args.only in (None, "mail"):
                    table(["mail (100 KB attachment each)", "wall s", "messages/s", "relayed (250)",
                           "arrived at the next hop", "planted ones rejected (550)", "other answers"],
                          run_mail(tmp, base, args.mail_messages, args.mail_connections, pool))
            finally:
                if pool is not None:
                    pool.close()
    log(f"guard benchmark: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
