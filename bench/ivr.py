"""Benchmark: IVR webhooks against the real server, 50 concurrent calls, SQLite and PostgreSQL.

Loads the world, 20,000 generated orders and the FAQ, starts `support serve` on a free loopback
port, and plays scripted calls (delivery status with verification, an FAQ question, a
voicemail, silence) from concurrent callers, every webhook signed as Twilio signs it for the
public URL. Prints webhook p50/p99 latency and requests/second per backend (Twilio gives a
webhook 15 s; the target is p99 <= 50 ms).

    python bench/ivr.py                      # both backends
    python bench/ivr.py --smoke              # small run for CI
    python bench/ivr.py --backends sqlite --calls 400 --concurrency 50
"""

from __future__ import annotations

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import sys
import time  # noqa: E402
from pathlib import Path
from typing import Any  # noqa: E402

import httpx  # noqa: E402
from sqlalchemy import select  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.server import each_backend, serving  # noqa: E402
from bench.synthetic import add_donors_and_orders, load_base_world  # noqa: E402
from support.auth.actor import Actor  # noqa: E402
from support.auth.models import RoleName  # noqa: E402
from support.db import make_engine, make_session_factory, transaction  # noqa: E402
from support.ivr.speech import only_digits  # noqa: E402
from support.ivr.twiml import describe  # noqa: E402
from support.kb import service as kb_service  # noqa: E402
from support.kb.schemas import ImportRow  # noqa: E402
from support.migrations import upgrade  # noqa: E402
from support.tickets.models import Donor, Order  # noqa: E402

PUBLIC = "https://ivr.bench.example.jp"
TOKEN = secrets.token_hex(16)
FAQ = ROOT.parent / "shared" / "data" / "kb" / "faq.jsonl"
QUESTIONS = (
    "ワンストップ特例の申請書はいつまでに送ればいいですか",
    "返礼品が届かないのですがどうすればいいですか",
    "寄附金受領証明書をなくしてしまいました",
    "不在票が入っていたので再配達してほしい",
)


def populate(url: str, data_dir: Path, orders: int) -> list[tuple[str, str]]:
    """Migrate and load world, orders and FAQ; return (keyed order number, phone last 4)."""
    upgrade(url)
    engine = make_engine(url)
    load_base_world(engine)
    add_donors_and_orders(engine, donors=max(100, orders // 10), orders=orders, seed=11)
    factory = make_session_factory(engine)
    from support.adapters.search_sqlite import SqliteSearchIndex

    rows = [ImportRow.model_validate(json.loads(line)) for line in FAQ.open(encoding="utf-8")]
    # The server's own embedded index (it would also rebuild a missing one at start).
    index = SqliteSearchIndex(data_dir / "search.db")
    with transaction(factory) as session:
        actor = Actor(user_id=None, username="bench", role=RoleName.ADMIN)
        kb_service.import_rows(session=session, index=index, actor=actor, rows=rows)
    index.close()
    with engine.connect() as conn:
        pairs = conn.execute(
            select(Order.order_no, Donor.phone)
            .join(Donor, Donor.id == Order.donor_id)
            .where(Order.order_no.like("ORD-%"))
            .limit(2000)
        ).all()
    engine.dispose()
    return [(only_digits(no), only_digits(phone or "")[-4:]) for no, phone in pairs]


def script(rng: random.Random, orders: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Return one caller's actions: a delivery check, a question, a voicemail or silence."""
    kind = rng.randrange(4)
    if kind == 0:
        number, last4 = rng.choice(orders)
        return [{"Digits": "1"}, {"Digits": number}, {"Digits": last4}, {}]
    if kind == 1:
        return [{"Digits": "2"}, {"SpeechResult": rng.choice(QUESTIONS)}, {"Digits": "1"}, {}]
    if kind == 2:
        recording = {
            "RecordingUrl": f"{PUBLIC}/r/RE{rng.randrange(10**9)}",
            "RecordingDuration": "9",
        }
        return [{"Digits": "3"}, {"SpeechResult": "返礼品について相談したい"}, recording]
    return [{}, {}, {}, {"SpeechResult": "要約"}, {"RecordingDuration": "0"}]


async def one_call(
    http: httpx.AsyncClient,
    rng: random.Random,
    orders: list[tuple[str, str]],
    lat: list[float],
    think: float,
) -> None:
    """Play one call through the webhooks and record each webhook's latency."""
    validator = RequestValidator(TOKEN)
    common = {
        "CallSid": "CA" + secrets.token_hex(16),
        "From": f"+8190{rng.randrange(10**8):08d}",
        "To": rng.choice(["+81120000100", "+81596000101", "+81450000102"]),
        "AccountSid": "AC" + "0" * 32,
    }

    async def post(path: str, extra: dict[str, str]) -> str:
        params = {**common, **extra}
        headers = {"X-Twilio-Signature": validator.compute_signature(PUBLIC + path, params)}
        started = time.perf_counter()
        response = await http.post(path, data=params, headers=headers)
        lat.append(time.perf_counter() - started)
        if response.status_code not in (200, 204):
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
        return response.text

    document = describe(await post("/ivr/voice", {"CallStatus": "ringing"}))
    for action in script(rng, orders):
        if document["hangup"]:
            break
        if think:
            # The caller listens to the prompt, then keys or speaks (compressed: real prompts
            # last 5-20 s, so real calls send fewer webhooks per second than this).
            await asyncio.sleep(rng.uniform(0.5, 1.5) * think)
        document = describe(await post("/ivr/step", {**action, "CallStatus": "in-progress"}))
    await post("/ivr/status", {"CallStatus": "completed", "CallDuration": "42"})


async def hammer(
    base: str, orders: list[tuple[str, str]], calls: int, concurrency: int, think: float
) -> tuple[float, list[float]]:
    """Place `calls` calls from `concurrency` callers at once; return elapsed time and latencies."""
    latencies: list[float] = []
    rng = random.Random(5)
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout would close them
    # under a request in flight.
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        for _ in range(5):  # warm-up, not measured
            await one_call(http, rng, orders, [], 0.0)
        queue = iter(range(calls))

        async def caller() -> None:
            for _ in queue:
                if think:
                    # Calls ring in at random moments, not all 50 in the same millisecond: a
                    # synchronised start would measure a burst no phone line produces.
                    await asyncio.sleep(rng.uniform(0.0, 2.0) * think)
                await one_call(http, rng, orders, latencies, think)

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


def server_durations(path: Path) -> list[float]:
    """Return the duration_ms of every IVR request in the server's access log, in order."""
    found = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"support.access"' in line and '"/ivr/' in line:
            try:
                found.append(float(json.loads(line)["duration_ms"]))
            except (ValueError, KeyError):
                continue
    return found


def run_backend(name: str, url: str, data_dir: Path, args: argparse.Namespace) -> None:
    """Populate one backend, serve it, measure, print one line."""
    started = time.perf_counter()
    orders = populate(url, data_dir, args.orders)
    load_seconds = time.perf_counter() - started
    # INFO: the access log's duration_ms gives the server-side time of every webhook.
    extra = {
        "SUPPORT_LOG_LEVEL": "INFO",
        "SUPPORT_PUBLIC_BASE_URL": PUBLIC,
        "SUPPORT_TWILIO_AUTH_TOKEN": TOKEN,
    }
    with serving(url, data_dir, name, **extra) as base:
        phases = [(1, 0.0, max(10, args.calls // 10))]  # one caller: the bare cost
        phases += [(args.concurrency, args.think, args.calls), (args.concurrency, 0.0, args.calls)]
        for concurrency, think, calls in phases:
            seen = len(server_durations(data_dir / "server.log"))
            elapsed, lat = asyncio.run(hammer(base, orders, calls, concurrency, think))
            server = sorted(server_durations(data_dir / "server.log")[seen:]) or [0.0]
            lat.sort()
            p50 = statistics.median(lat) * 1000
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
            verdict = "met" if p99 <= 50 else "MISSED"
            if concurrency == 1:
                mode = "one caller, back to back"
            else:
                mode = f"think={think:.1f}s" if think else "no think time (saturation)"
            print(
                f"{name:10} {mode:28} calls={calls:>5} webhooks={len(lat):>6} "
                f"concurrency={concurrency:>2} rps={len(lat) / elapsed:7.1f} "
                f"p50={p50:6.2f}ms p99={p99:7.2f}ms"
                + (f" (p99 <= 50 ms {verdict})" if think else "")
                + f"; in the server p50={statistics.median(server):6.2f}ms "
                f"p99={server[min(len(server) - 1, int(len(server) * 0.99))]:7.2f}ms",
                flush=True,
            )
        print(f"{name:10} load={load_seconds:.1f}s", flush=True)


def main() -> None:
    """Parse arguments and run each backend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--think",
        type=float,
        default=3.0,
        help="mean seconds a caller takes between webhooks (real prompts last 5-20 s)",
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--smoke", action="store_true", help="1,000 orders, 50 calls")
    args = parser.parse_args()
    if args.smoke:
        args.orders, args.calls, args.think = 1_000, 50, 0.5
    each_backend(
        args.backends,
        "support-bench-ivr-",
        lambda name, url, data_dir: run_backend(name, url, data_dir, args),
    )


if __name__ == "__main__":
    main()
