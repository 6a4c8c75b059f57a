"""Measure the send guard on the labelled outbound drafts.

Prints per-code precision, recall and F1, the share of drafts whose code set is exactly
right, the drafts that are wrong, and throughput.

    .venv/bin/python bench/guards_eval.py [--world PATH] [--drafts PATH] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from support.mail.guards import CODES, Directory, DraftMail, TicketContext, check_draft

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def _load_drafts(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _ratio(num: int, den: int) -> float:
    return num / den if den else 1.0


def main(argv: list[str] | None = None) -> int:
    """Run the guard over the drafts and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, default=DATA / "world.json")
    parser.add_argument("--drafts", type=Path, default=DATA / "outbound" / "drafts-dev.jsonl")
    parser.add_argument("--repeat", type=int, default=20, help="timed passes (best is kept)")
    parser.add_argument("--quiet", action="store_true", help="do not list wrong drafts")
    args = parser.parse_args(argv)

    world = json.loads(args.world.read_text(encoding="utf-8"))
    records = _load_drafts(args.drafts)

    t0 = time.perf_counter()
    directory = Directory.from_world(world)
    build_ms = (time.perf_counter() - t0) * 1000
    cases = [
        (r["id"], DraftMail.from_mapping(r), TicketContext.from_mapping(r["ticket"]), r)
        for r in records
    ]

    tp = dict.fromkeys(CODES, 0)
    fp = dict.fromkeys(CODES, 0)
    fn = dict.fromkeys(CODES, 0)
    exact = 0
    wrong: list[str] = []
    for draft_id, draft, ticket, record in cases:
        findings = check_draft(draft, ticket, directory)
        got = {f.code for f in findings}
        want = set(record.get("expect", []))
        for code in CODES:
            tp[code] += code in got and code in want
            fp[code] += code in got and code not in want
            fn[code] += code not in got and code in want
        if got == want:
            exact += 1
        else:
            extra = sorted(got - want)
            missed = sorted(want - got)
            wrong.append(f"  {draft_id}: extra={extra} missed={missed}")
            for f in findings:
                if f.code in extra:
                    wrong.append(f"      {f.code}: {f.message} [{f.evidence.snippet}]")

    # Best of several rounds: the machine is shared, and the minimum is the least noisy.
    best = float("inf")
    for _ in range(args.repeat):
        t1 = time.perf_counter()
        for _, draft, ticket, _ in cases:
            check_draft(draft, ticket, directory)
        best = min(best, time.perf_counter() - t1)
    rate = len(cases) / best if best else float("inf")

    print(f"drafts: {len(cases)}  ({args.drafts})")
    print(f"{'code':<26}{'tp':>4}{'fp':>4}{'fn':>4}{'prec':>8}{'recall':>8}{'f1':>8}")
    for code in CODES:
        p = _ratio(tp[code], tp[code] + fp[code])
        r = _ratio(tp[code], tp[code] + fn[code])
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        print(f"{code:<26}{tp[code]:>4}{fp[code]:>4}{fn[code]:>4}{p:>8.3f}{r:>8.3f}{f1:>8.3f}")
    all_tp, all_fp, all_fn = sum(tp.values()), sum(fp.values()), sum(fn.values())
    micro_p = _ratio(all_tp, all_tp + all_fp)
    micro_r = _ratio(all_tp, all_tp + all_fn)
    micro_f = 2 * micro_p * micro_r / (micro_p + micro_r) if micro_p + micro_r else 0.0
    counts = f"{all_tp:>4}{all_fp:>4}{all_fn:>4}"
    print(f"{'micro':<26}{counts}{micro_p:>8.3f}{micro_r:>8.3f}{micro_f:>8.3f}")
    print(f"exact code-set match: {exact}/{len(cases)} = {_ratio(exact, len(cases)):.1%}")
    per_draft_ms = 1000 / rate
    print(
        f"throughput: {rate:,.0f} drafts/s ({per_draft_ms:.2f} ms/draft, best of {args.repeat}"
        f" passes; directory build {build_ms:.1f} ms)"
    )
    if wrong and not args.quiet:
        print("wrong drafts:")
        print("\n".join(wrong))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
