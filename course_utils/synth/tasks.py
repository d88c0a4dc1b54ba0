"""Instruction data: (instruction, input, output) pairs per task type, with the facts to score them.

Each task type renders a record of the world (a ticket, a contract, an article) into an
instruction, an input and the one right output, and keeps the record's fields beside the
pair, so that a model's answer can be checked fact by fact (``course_utils.evaluate``).
Two task types never appear in training (``shipped.HELD_OUT_TASKS``), and each task keeps a
few instruction wordings back for the ``test_reworded`` split: both measure generalisation.
The same generators make the preference pairs of the DPO notebook.
"""
from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

from course_utils.preference import CLOSINGS
from course_utils.shipped import HELD_OUT_TASKS, InstructionRow
from course_utils.synth import corpus
from course_utils.synth.world import World

# A record of the world rendered for a task: (input, output, fields to score, private data the
# output must never contain).
Rendered = tuple[str, str, dict, dict]


def _private(t) -> dict:
    """A ticket customer's personal data: an output that repeats it leaks it."""
    return {"email": t.customer.email, "phone": t.customer.phone}


@dataclass(frozen=True)
class TaskType:
    """A kind of instruction: its wordings, how to make an example, and whether training sees it."""

    name: str
    instructions: tuple[str, ...]
    reworded: tuple[str, ...]
    make: Callable[[World, random.Random], Rendered]

    @property
    def held_out(self) -> bool:
        """Whether training never sees this task (the shipped data's list decides)."""
        return self.name in HELD_OUT_TASKS


# -- the task types --------------------------------------------------------------------
def _ticket_summary(w: World, rng: random.Random) -> Rendered:
    t = w.ticket()
    p = t.product
    output = (
        f"{t.customer.name} reports that their {p.name} {p.kind} {t.problem_short} "
        f"and asks for a {t.request}."
    )
    fields = {"customer": t.customer.name, "product": p.name, "problem": t.problem_short, "request": t.request}
    return corpus.ticket_text(t, rng), output, fields, _private(t)


def _contract_summary(w: World, rng: random.Random) -> Rendered:
    k = w.contract()
    output = (
        f"Term: {k.term_months} months; liability cap: {k.cap_text}; "
        f"governing law: {k.governing_law}."
    )
    fields = {"term": f"{k.term_months} months", "liability_cap": k.cap_text, "governing_law": k.governing_law}
    return corpus.contract_text(k, rng), output, fields, {}


def _question_answering(w: World, rng: random.Random) -> Rendered:
    kind = rng.choice(["company", "company", "product", "place"])
    if kind == "company":
        company = w.company()
        products = [p for p in w.products if p.company == company.name]
        passage = corpus.company_article(company, products, rng)
        question, answer = rng.choice([
            (f"In which year was {company.name} founded?", str(company.founded)),
            (f"Who founded {company.name}?", company.founder),
            (f"In which town is {company.name} based?", company.town),
            (f"About how many people does {company.name} employ?", str(company.employees)),
            (f"What does {company.name} make?", company.industry),
        ])
    elif kind == "product":
        product = w.product()
        passage = corpus.product_article(product, rng)
        question, answer = rng.choice([
            (f"Which company makes the {product.name}?", product.company),
            (f"When was the {product.name} first sold?", str(product.year)),
            (f"How many crowns does the {product.name} cost?", str(product.price)),
            (f"What kind of product is the {product.name}?", product.kind),
        ])
    else:
        place = w.place()
        passage = corpus.place_article(place, rng)
        question, answer = rng.choice([
            (f"In which region is {place.name}?", place.region),
            (f"What is {place.name} known for?", place.feature),
            (f"What is the population of {place.name}?", f"{place.population:,}"),
        ])
    return f"{passage}\n\nQuestion: {question}", answer, {"answer": answer}, {}


def _ticket_urgency(w: World, rng: random.Random) -> Rendered:
    t = w.ticket()
    return corpus.ticket_text(t, rng), t.urgency, {"label": t.urgency}, _private(t)


def _ticket_sentiment(w: World, rng: random.Random) -> Rendered:
    t = w.ticket()
    return corpus.ticket_text(t, rng), t.sentiment, {"label": t.sentiment}, _private(t)


def _ticket_to_json(w: World, rng: random.Random) -> Rendered:
    t = w.ticket()
    fields = {
        "customer": t.customer.name, "product": t.product.name,
        "order_id": t.order_id, "request": t.request,
    }
    return corpus.ticket_text(t, rng), json.dumps(fields), fields, _private(t)


def _contract_to_json(w: World, rng: random.Random) -> Rendered:
    k = w.contract()
    fields = {
        "provider": k.supplier.name, "client": k.customer.name, "term_months": k.term_months,
        "liability_cap": k.liability_cap, "governing_law": k.governing_law,
    }
    return corpus.contract_text(k, rng), json.dumps(fields), fields, {}


def _formal_rewrite(w: World, rng: random.Random) -> Rendered:
    t = w.ticket()
    p = t.product
    output = (
        f"Dear support team, my {p.name} {p.kind} {t.problem_short}. "
        f"Could you please arrange a {t.request}? My order number is {t.order_id}."
    )
    fields = {"product": p.name, "problem": t.problem_short, "request": t.request, "order_id": t.order_id}
    return corpus.informal_note(t, rng), output, fields, _private(t)


TASKS: dict[str, TaskType] = {t.name: t for t in [
    TaskType(
        "ticket_summary",
        ("Summarise this support ticket in one sentence.",
         "Write a one-sentence summary of the following support ticket.",
         "Give a single-sentence summary of this ticket.",
         "Sum up the customer's ticket in one sentence."),
        ("In just one sentence, what is this ticket about?",
         "Condense the ticket below into a single sentence."),
        _ticket_summary,
    ),
    TaskType(
        "contract_summary",
        ("Summarise this contract's term, liability cap and governing law.",
         "State the term, the liability cap and the governing law of this contract.",
         "Give the contract's duration, its cap on liability and the law that governs it."),
        ("What are the term, liability limit and applicable law of the agreement below?",
         "Pull out the contract's length, maximum liability and governing law."),
        _contract_summary,
    ),
    TaskType(
        "qa",
        ("Answer the question using the passage.",
         "Read the passage and answer the question briefly.",
         "Using only the text below, answer the question."),
        ("Reply to the question with a short answer taken from the passage.",),
        _question_answering,
    ),
    TaskType(
        "urgency",
        ("Classify the urgency of this ticket as high, medium or low.",
         "How urgent is this ticket? Answer high, medium or low.",
         "Label the ticket's urgency: high, medium or low."),
        ("Rate how pressing this ticket is (high, medium or low).",),
        _ticket_urgency,
    ),
    TaskType(
        "extract_json",
        ("Extract the customer, product, order_id and request from this ticket as JSON.",
         "Return a JSON object with the ticket's customer, product, order_id and request.",
         "Read the ticket and output JSON with keys customer, product, order_id and request."),
        ("Give the customer, product, order_id and request of the ticket in JSON format.",),
        _ticket_to_json,
    ),
    TaskType(
        "rewrite",
        ("Rewrite this message in a formal tone.",
         "Turn this informal note into a polite, formal message.",
         "Make the following message formal."),
        ("Rephrase the note below so that it reads as a formal request.",),
        _formal_rewrite,
    ),
    TaskType(
        "sentiment",
        ("Classify the customer's sentiment in this ticket as positive, neutral or negative.",),
        ("Is the customer's tone positive, neutral or negative?",),
        _ticket_sentiment,
    ),
    TaskType(
        "contract_json",
        ("Extract the provider, client, term_months, liability_cap and governing_law of this contract as JSON.",),
        ("Return the contract's provider, client, term_months, liability_cap and governing_law in JSON.",),
        _contract_to_json,
    ),
]}


def make_example(task: TaskType, world: World, rng: random.Random, wordings: tuple[str, ...]) -> InstructionRow:
    """One instruction pair of ``task``, its instruction drawn from ``wordings``."""
    text, output, fields, private = task.make(world, rng)
    return {
        "task": task.name, "instruction": rng.choice(wordings), "input": text, "output": output,
        "fields": fields, "private": private,
    }


# -- splits ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitPlan:
    """How many examples of which tasks each split holds."""

    train: int = 1000
    train_ticket: int = 3000  # the workbook's main task: enough pairs for a few minutes of SFT
    train_contract: int = 2000  # enough contract pairs for the dataset-size sweep
    train_qa: int = 3000  # twelve kinds of question, each a different value to find in the passage
    validation: int = 100
    test: int = 100
    test_reworded: int = 50


def instruction_splits(world: World, plan: SplitPlan = SplitPlan()) -> dict[str, list[dict]]:
    """Train, validation, test and test_reworded splits whose inputs never repeat across splits.

    Held-out task types appear only in validation and test; reworded instructions only in
    ``test_reworded``.
    """
    seen_inputs: set[str] = set()
    splits: dict[str, list[dict]] = {}
    for split in ["train", "validation", "test", "test_reworded"]:
        rows = []
        for task in TASKS.values():
            n = _split_size(plan, split, task)
            w = world.stream(f"{split}:{task.name}")
            wordings = task.reworded if split == "test_reworded" else task.instructions
            made, attempts = 0, 0
            while made < n:
                attempts += 1
                if attempts > 20 * n:
                    raise RuntimeError(f"{task.name}: the world has too few distinct inputs for {n} {split} examples")
                row = make_example(task, w, w.rng, wordings)
                if row["input"] in seen_inputs:
                    continue
                seen_inputs.add(row["input"])
                row["id"] = f"{split}-{task.name}-{made}"
                row["split"] = split
                rows.append(row)
                made += 1
        splits[split] = rows
    return splits


def _split_size(plan: SplitPlan, split: str, task: TaskType) -> int:
    if task.held_out and split in ("train", "test_reworded"):
        return 0
    if split == "train":
        special = {"ticket_summary": plan.train_ticket, "contract_summary": plan.train_contract, "qa": plan.train_qa}
        return special.get(task.name, plan.train)
    return getattr(plan, split)


def preference_pairs(world: World, n: int, stream: int, exclude: Sequence[str] = ()) -> list[dict]:
    """``n`` formal-rewrite pairs about the cast of ``world``, drawn from its random ``stream``.

    Each pair keeps the fields of an instruction row and adds ``chosen`` (the reference rewrite,
    then a thank-you from ``preference.CLOSINGS``) and ``rejected`` (the reference rewrite alone):
    both state every fact, and raters prefer the first. Inputs in ``exclude`` (the instruction
    splits' inputs, say) are skipped, and no input repeats.
    """
    task = TASKS["rewrite"]
    world = world.stream(f"preference pairs:{stream}")  # the same cast, new events
    seen = set(exclude)
    pairs: list[dict] = []
    attempts = 0
    while len(pairs) < n:
        attempts += 1
        if attempts > 20 * n + 100:
            raise RuntimeError(f"preference_pairs: found only {len(pairs)} new inputs of {n}; ask for fewer pairs")
        row = make_example(task, world, world.rng, task.instructions)
        if row["input"] in seen:
            continue
        seen.add(row["input"])
        closing = world.rng.choice(CLOSINGS)
        pairs.append({**row, "id": f"pref-{stream}-{len(pairs)}", "chosen": f"{row['output']} {closing}",
                      "rejected": row["output"]})
    return pairs
