"""Long contracts and their one-paragraph summaries, for the data-size sweep of notebook ch04/03.

The shipped contract pairs are excerpts of five clauses, one duration, one sum and one place
each, so copying any value is right. A paralegal reads agreements of many clauses, and most of
their durations, sums and places are not the three that a summary needs: a notice period, a
warranty, insurance cover, the courts that hear disputes. These contracts hold all of them, in
shuffled order, so a model must read which clause a value comes from. Nothing here is part of the
shipped build: the notebook draws the contracts from a stream of the world of its own.
"""
from __future__ import annotations

import random

from course_utils.shipped import InstructionRow
from course_utils.synth.world import CAPS, CURRENCY, REGIONS, TERMS_MONTHS, Contract, World

TASK = "contract_brief"
INSTRUCTIONS = (
    "Summarise this contract in one paragraph: its term, liability cap and governing law.",
    "Write a one-paragraph summary of this agreement that states its term, its liability cap and its governing law.",
)


def _other(rng: random.Random, choices: list, *taken: object) -> object:
    """A value of ``choices`` that none of the right values equals: a distractor of the same kind."""
    return rng.choice([c for c in choices if c not in taken])


def long_contract_text(k: Contract, rng: random.Random) -> str:
    """A contract of eight numbered clauses in which the term, the cap and the law sit among two other durations,
    another sum and another place."""
    warranty = _other(rng, TERMS_MONTHS, k.term_months)
    cover = _other(rng, CAPS, k.liability_cap)
    courts = _other(rng, REGIONS, k.governing_law)
    term = rng.choice([
        f"Term. The agreement starts in {k.start_month} {k.start_year} and runs for {k.term_months} months.",
        f"Duration. This agreement remains in force for {k.term_months} months from {k.start_month} {k.start_year}.",
    ])
    cap = rng.choice([
        f"Liability. The total liability of either party shall not exceed {k.cap_text}.",
        f"Limitation of liability. Each party's aggregate liability is capped at {k.cap_text}.",
    ])
    law = rng.choice([
        f"Governing law. This agreement is governed by the laws of {k.governing_law}.",
        f"Applicable law. The laws of {k.governing_law} govern this agreement.",
    ])
    others = [
        f"Notice. Either party may end this agreement with {k.notice_days} days' written notice.",
        f"Warranty. The Provider warrants its work for {warranty} months after delivery.",
        f"Insurance. The Provider shall hold insurance cover of {cover:,} {CURRENCY} for the whole term.",
        f"Disputes. Any dispute shall be heard first by the courts of {courts}.",
        "Confidentiality. Neither party shall disclose the other's business information.",
    ]
    clauses = [term, cap, law] + others
    rng.shuffle(clauses)
    numbered = " ".join(f"{i}. {c}" for i, c in enumerate(clauses, start=1))
    parties = f"This {k.kind} is made between {k.supplier.name} (the Provider) and {k.customer.name} (the Client)."
    return f"{k.kind.upper()}. {parties} {numbered}"


def brief(k: Contract) -> str:
    """The one-paragraph summary a paralegal writes: who, then the term, the cap and the law."""
    return (f"This {k.kind} between {k.supplier.name} and {k.customer.name} runs for {k.term_months} months. "
            f"Liability is capped at {k.cap_text}, and the agreement is governed by the laws of {k.governing_law}.")


def long_contract_pairs(world: World, n: int) -> list[InstructionRow]:
    """``n`` pairs of a long contract and its summary, drawn from ``world``'s own stream."""
    rows = []
    for i in range(n):
        k = world.contract()
        rows.append({
            "id": f"long-{TASK}-{i}", "split": "notebook", "task": TASK,
            "instruction": world.rng.choice(INSTRUCTIONS), "input": long_contract_text(k, world.rng),
            "output": brief(k), "private": {},
            "fields": {"term": f"{k.term_months} months", "liability_cap": k.cap_text, "governing_law": k.governing_law},
        })
    return rows
