"""Synthetic donors and orders for the benchmarks, bulk-inserted on top of the world file."""

from __future__ import annotations

import base64
import hashlib
import random
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, text

from support.db import make_session_factory, transaction, utcnow
from support.mail.models import MailAttachment, MailMessage, MailRaw
from support.tickets.models import (
    Donation,
    Donor,
    GiftItem,
    Order,
    Supplier,
    Ticket,
    TicketEvent,
    TicketTag,
)
from support.tickets.world import load_world, read_world

ROOT = Path(__file__).resolve().parents[1]
WORLD = ROOT.parent / "shared" / "data" / "world.json"
if not WORLD.exists():
    WORLD = ROOT / "support" / "demo" / "world.json"
BATCH = 10_000
SURNAMES = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
GIVEN = ["太郎", "花子", "一郎", "美咲", "健", "陽子", "翔", "愛", "大輔", "由美"]
STATUSES = ("受付完了", "入金確認済", "発送準備中", "発送済", "配達完了", "配送遅延")


def load_base_world(engine: Engine) -> None:
    """Load the world file (municipalities, suppliers, gifts, the named donors)."""
    with transaction(make_session_factory(engine)) as session:
        load_world(session=session, world=read_world(WORLD))


def add_donors_and_orders(engine: Engine, *, donors: int, orders: int, seed: int = 7) -> None:
    """Insert `donors` donors and `orders` orders (one donation each) with distinct identifiers.

    Order and donation numbers use the real formats (ORD-YYYY-NNNNNN, DYY-NNNNNNN) so that the
    guards and the mail linker see the same shapes as in production; every donor has its own
    e-mail, phone, postal code and address.
    """
    with make_session_factory(engine)() as session:
        suppliers = session.execute(select(Supplier.id, Supplier.municipality_id)).all()
        gifts = {
            s: session.scalars(select(GiftItem.id).where(GiftItem.supplier_id == s)).all()
            for s, _ in suppliers
        }
    rng = random.Random(seed)
    now = utcnow()
    first = date(2025, 1, 1)
    with engine.begin() as conn:
        for start in range(0, donors, BATCH):
            conn.execute(
                insert(Donor),
                [
                    {
                        "id": f"gd-{i:07d}",
                        "name": f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}",
                        "kana": "テスト",
                        "email": f"user{i}@bench-mail.example.jp",
                        "phone": f"080-{i // 10000:04d}-{i % 10000:04d}",
                        "postal_code": f"{100 + i % 800:03d}-{i % 10000:04d}",
                        "address": f"東京都練馬区豊玉北{i % 9 + 1}丁目{i % 30 + 1}番{i % 20 + 1}号",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, min(donors, start + BATCH))
                ],
            )
        for start in range(0, orders, BATCH):
            donations, rows = [], []
            for i in range(start, min(orders, start + BATCH)):
                supplier, city = suppliers[rng.randrange(len(suppliers))]
                donor = f"gd-{rng.randrange(donors):07d}"
                day = first + timedelta(days=rng.randrange(365))
                donation_no = f"D26-{i:07d}"
                donations.append(
                    {
                        "donation_no": donation_no,
                        "donor_id": donor,
                        "municipality_id": city,
                        "amount_yen": 10000,
                        "portal": "bench",
                        "donated_on": day,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                rows.append(
                    {
                        "portal": "bench",
                        "order_no": f"ORD-2026-{i:06d}",
                        "donor_id": donor,
                        "municipality_id": city,
                        "supplier_id": supplier,
                        "gift_item_id": rng.choice(gifts[supplier]),
                        "status": rng.choice(STATUSES),
                        "ordered_on": day,
                        "created_at": now,
                        "updated_at": now,
                        "_no": donation_no,
                    }
                )
            conn.execute(insert(Donation), donations)
            ids = dict(
                conn.execute(
                    select(Donation.donation_no, Donation.id).where(
                        Donation.donation_no.in_([d["donation_no"] for d in donations])
                    )
                ).all()
            )
            for row in rows:
                row["donation_id"] = ids[row.pop("_no")]
            conn.execute(insert(Order), rows)


TOPICS = ("返礼品が届きません", "受領証明書の再発行", "ワンストップ特例の申請書", "配送先の変更")
BODY = (
    "いつもお世話になっております。\n先日寄附した返礼品について問い合わせます。\n"
    "注文番号 {order} の配送状況を教えてください。\n"
    "ワンストップ特例の申請書も届いていないようです。よろしくお願いいたします。\n"
)


_PHOTO = base64.encodebytes(bytes(range(256)) * 8).decode("ascii")


def _raw_mail(i: int, sender: str, subject: str, order: str, at: datetime) -> bytes:
    """Return a MIME mail as a mail client writes it (from text: the email package is slow)."""
    body = base64.encodebytes((BODY.format(order=order) * 3).encode("utf-8")).decode("ascii")
    headers = (
        f"From: {sender}\r\nTo: support-ise@desk.example.jp\r\n"
        f"Subject: =?utf-8?b?{base64.b64encode(subject.encode()).decode()}?=\r\n"
        f"Date: {format_datetime(at)}\r\n"
        f"Message-ID: <drill-{i:07d}@mua.example.jp>\r\nMIME-Version: 1.0\r\n"
    )
    text_part = (
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + body
    )
    if i % 5:
        return (headers + text_part).encode("ascii")
    boundary = f"=_drill_{i:07d}"
    return (
        headers
        + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        + f"--{boundary}\r\n{text_part}\r\n--{boundary}\r\n"
        + "Content-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n"
        + 'Content-Disposition: attachment; filename="photo.jpg"\r\n\r\n'
        + _PHOTO
        + f"\r\n--{boundary}--\r\n"
    ).encode("ascii")


def add_tickets_and_mails(engine: Engine, *, tickets: int, seed: int = 11) -> None:
    """Insert `tickets` mail tickets, each with one inbound message (raw kept), a tag and events.

    Every fifth message has an attachment. Rows go in plain executemany batches with their
    identifiers given (RETURNING would make psycopg parse one huge statement per batch); the
    PostgreSQL sequences are moved past them at the end.
    """
    rng = random.Random(seed)
    with make_session_factory(engine)() as session:
        orders = session.execute(
            select(
                Order.id, Order.order_no, Order.municipality_id, Order.supplier_id, Order.donor_id
            )
        ).all()
        donors = dict(session.execute(select(Donor.id, Donor.email)).all())
    start = datetime(2026, 4, 1, tzinfo=UTC)
    with engine.begin() as conn:
        next_ticket = int(conn.execute(select(func.coalesce(func.max(Ticket.id), 0))).scalar_one())
        next_message = int(
            conn.execute(select(func.coalesce(func.max(MailMessage.id), 0))).scalar_one()
        )
        for first in range(0, tickets, BATCH // 4):
            span = range(first, min(tickets, first + BATCH // 4))
            picks = [orders[rng.randrange(len(orders))] for _ in span]
            times = [start + timedelta(minutes=rng.randrange(200 * 24 * 60)) for _ in span]
            subjects = [f"{rng.choice(TOPICS)}（{i:07d}）" for i in span]
            ids = [next_ticket + 1 + k for k in range(len(span))]
            next_ticket += len(span)
            rows = [
                {
                    "id": ids[k],
                    "subject": subjects[k],
                    "category": "配送",
                    "priority": "normal",
                    "status": "open" if k % 3 else "closed",
                    "channel": "mail",
                    "municipality_id": o.municipality_id,
                    "donor_id": o.donor_id,
                    "order_id": o.id,
                    "supplier_id": o.supplier_id,
                    "created_at": times[k],
                    "updated_at": times[k],
                    "last_activity_at": times[k],
                    "thread_version": 1,
                }
                for k, o in enumerate(picks)
            ]
            conn.execute(insert(Ticket), rows)
            conn.execute(insert(TicketTag), [{"ticket_id": t, "tag": "配送"} for t in ids])
            conn.execute(
                insert(TicketEvent),
                [
                    {
                        "ticket_id": t,
                        "kind": "created",
                        "occurred_at": times[k],
                        "detail": {"channel": "mail"},
                    }
                    for k, t in enumerate(ids)
                ],
            )
            raws, messages = [], []
            for k, (i, t, o) in enumerate(zip(span, ids, picks, strict=True)):
                sender = donors.get(o.donor_id) or f"donor{i}@mail.example.jp"
                raw = _raw_mail(i, sender, subjects[k], o.order_no, times[k])
                raws.append(raw)
                messages.append(
                    {
                        "id": next_message + 1 + k,
                        "ticket_id": t,
                        "direction": "inbound",
                        "dedupe_key": hashlib.sha256(raw).hexdigest(),
                        "message_id": f"<drill-{i:07d}@mua.example.jp>",
                        "references": [],
                        "from_addr": sender,
                        "to_addrs": ["support-ise@desk.example.jp"],
                        "cc_addrs": [],
                        "delivered_to": ["support-ise@desk.example.jp"],
                        "subject": subjects[k],
                        "sent_at": times[k],
                        "received_at": times[k],
                        "text": BODY.format(order=o.order_no) * 3,
                        "is_auto": False,
                        "parse_failed": False,
                        "problems": [],
                        "raw_size": len(raw),
                        "bounced": False,
                        "source": {"account": "drill", "folder": "INBOX", "uid": i},
                    }
                )
            message_ids = [m["id"] for m in messages]
            next_message += len(messages)
            conn.execute(insert(MailMessage), messages)
            conn.execute(
                insert(MailRaw),
                [{"message_id": m, "data": r} for m, r in zip(message_ids, raws, strict=True)],
            )
            attachments = [
                {
                    "message_id": m,
                    "filename": "photo.jpg",
                    "content_type": "image/jpeg",
                    "size": 2048,
                    "inline": False,
                    "part_index": 2,
                    "sha256": hashlib.sha256(bytes(range(256)) * 8).hexdigest(),
                }
                for i, m in zip(span, message_ids, strict=True)
                if i % 5 == 0
            ]
            if attachments:
                conn.execute(insert(MailAttachment), attachments)
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('tickets', 'id'),"
                    " (SELECT max(id) FROM tickets)),"
                    " setval(pg_get_serial_sequence('mail_messages', 'id'),"
                    " (SELECT max(id) FROM mail_messages))"
                )
            )
