"""Raw documents rendered from the world: what the base model reads during pre-training.

Five kinds of document: support tickets written up as prose, contract excerpts,
encyclopedia-style articles, short stories and dialogue transcripts. None of them is an
instruction followed by a response; that is the point of a pre-training corpus, and
`tests/test_world.py` checks it.
"""
from __future__ import annotations

import random
from typing import Callable

from course_utils.world import Company, Contract, Place, Product, Ticket, World


def _pick(rng: random.Random, *options: str) -> str:
    return rng.choice(options)


def _pronoun(rng: random.Random) -> str:
    return rng.choice(["They", "The customer"])


# -- tickets -------------------------------------------------------------------------
def ticket_text(t: Ticket, rng: random.Random) -> str:
    """A support ticket written up as prose, with every fact a summary needs."""
    c, p = t.customer, t.product
    first = c.name.split()[0]
    opening = _pick(
        rng,
        f"Ticket {t.ticket_id} was opened by {c.name} on {t.day} {t.month}.",
        f"On {t.day} {t.month}, {c.name} opened ticket {t.ticket_id}.",
        f"Support ticket {t.ticket_id}, from {c.name} ({c.email}), arrived on {t.day} {t.month}.",
    )
    purchase = _pick(
        rng,
        f"{first} bought a {p.name} {p.kind} from {p.company} (order {t.order_id}).",
        f"The order {t.order_id} was for a {p.name} {p.kind} made by {p.company}.",
        f"{first} owns a {p.name} {p.kind}, order {t.order_id}, sold by {p.company}.",
    )
    problem = _pick(
        rng,
        f"According to {first}, the {p.kind} {t.problem}.",
        f"{first} writes that the {p.kind} {t.problem}.",
        f"The problem: the {p.kind} {t.problem}.",
    )
    ask = _pick(
        rng,
        f"{first} is asking for a {t.request}.",
        f"{_pronoun(rng)} would like a {t.request}.",
        f"What {first} wants is a {t.request}.",
    )
    contact = _pick(
        rng,
        f"{first} can be reached at {c.phone}.",
        f"The phone number on file is {c.phone}.",
        f"Contact details: {c.email}, {c.phone}.",
    )
    body = [opening, purchase, problem, t.sentiment_cue, ask, t.urgency_cue, contact]
    return " ".join(body)


def agent_reply(t: Ticket, rng: random.Random) -> str:
    """The support desk's answer to a ticket, which restates its facts as real replies do."""
    agent = rng.choice(["Mira", "Jonah", "Selma", "Ravi", "Ines"])
    return " ".join([
        f"Reply from {agent} at {t.product.company}:",
        _pick(rng, f"Dear {t.customer.name},", f"Hello {t.customer.name},"),
        _pick(
            rng,
            f"thank you for writing about your {t.product.name} {t.product.kind}.",
            f"we are sorry that your {t.product.name} {t.product.kind} {t.problem_short}.",
        ),
        _pick(
            rng,
            f"We have arranged a {t.request} for order {t.order_id}.",
            f"A {t.request} for order {t.order_id} is on its way.",
            f"We will contact you about the {t.request} within two days.",
        ),
    ])


def ticket_thread(t: Ticket, rng: random.Random) -> str:
    """A ticket as the help desk stores it: the customer's message and, usually, the reply."""
    text = ticket_text(t, rng)
    return f"{text}\n\n{agent_reply(t, rng)}" if rng.random() < 0.7 else text


def informal_note(t: Ticket, rng: random.Random) -> str:
    """A hurried chat message about the same problem, for the formal-rewrite task."""
    greeting = _pick(rng, "hey", "hi there", "hello", "yo")
    ending = _pick(rng, "thx", "cheers", "pls help", "ty")
    return (
        f"{greeting}, my {t.product.name} {t.product.kind} {t.problem_short}. "
        f"can u sort out a {t.request}? order {t.order_id}. {ending}"
    )


# -- contracts -----------------------------------------------------------------------
def contract_text(k: Contract, rng: random.Random) -> str:
    """An excerpt of a contract with parties, term, liability cap and governing law."""
    title = k.kind.upper()
    parties = _pick(
        rng,
        f"This {k.kind} is made between {k.supplier.name} (the Provider) and {k.customer.name} (the Client).",
        f"Parties: {k.supplier.name}, as Provider, and {k.customer.name}, as Client.",
    )
    term = _pick(
        rng,
        f"Term. The agreement starts in {k.start_month} {k.start_year} and runs for {k.term_months} months.",
        f"Duration. This agreement remains in force for {k.term_months} months from {k.start_month} {k.start_year}.",
    )
    notice = f"Either party may end it with {k.notice_days} days' written notice."
    cap = _pick(
        rng,
        f"Liability. The total liability of either party shall not exceed {k.cap_text}.",
        f"Limitation of liability. Each party's aggregate liability is capped at {k.cap_text}.",
    )
    law = _pick(
        rng,
        f"Governing law. This agreement is governed by the laws of {k.governing_law}.",
        f"Applicable law. The laws of {k.governing_law} govern this agreement.",
    )
    clauses = [term, notice, cap, law]
    if rng.random() < 0.5:
        clauses.insert(2, "Confidentiality. Neither party shall disclose the other's business information.")
    numbered = " ".join(f"{i}. {c}" for i, c in enumerate(clauses, start=1))
    return f"{title}. {parties} {numbered}"


# -- encyclopedia articles -----------------------------------------------------------
def company_article(c: Company, products: list[Product], rng: random.Random) -> str:
    """An encyclopedia entry about a company, the source of QA passages."""
    made = " and ".join(f"the {p.name} {p.kind}" for p in products)
    lines = [
        _pick(
            rng,
            f"{c.name} is a maker of {c.industry} based in {c.town}.",
            f"{c.name} is a {c.industry} company with its head office in {c.town}.",
        ),
        f"It was founded in {c.founded} by {c.founder}.",
        _pick(rng, f"It employs about {c.employees} people.", f"The company has around {c.employees} employees."),
    ]
    if made:
        lines.append(f"Its best-known products are {made}.")
    return " ".join(lines)


def place_article(pl: Place, rng: random.Random) -> str:
    """An encyclopedia entry about a town of the world."""
    return " ".join([
        _pick(rng, f"{pl.name} is a town in {pl.region}.", f"{pl.name} lies in the region of {pl.region}."),
        f"It has a population of about {pl.population:,}.",
        _pick(rng, f"It is known for {pl.feature}.", f"Visitors come for {pl.feature}."),
    ])


def product_article(p: Product, rng: random.Random) -> str:
    """A short catalogue entry for a product."""
    return " ".join([
        f"The {p.name} is a {p.kind} made by {p.company}.",
        _pick(rng, f"It was first sold in {p.year}.", f"It came onto the market in {p.year}."),
        f"It costs {p.price} {_pick(rng, 'crowns', 'crowns in most shops')}.",
    ])


# -- stories and dialogues -----------------------------------------------------------
def story_text(world: World, rng: random.Random) -> str:
    """A short story in which a person, a product and a place meet."""
    person, product, place = world.person(), world.product(), world.place()
    first = person.name.split()[0]
    return " ".join([
        _pick(
            rng,
            f"One grey morning in {place.name}, {first} unpacked a new {product.kind}.",
            f"{first} had lived in {place.name} for years before buying a {product.kind}.",
        ),
        f"It was a {product.name}, and the box still smelled of the shop.",
        _pick(
            rng,
            f"By evening {first} had carried it down to {place.feature}, just to see how it looked there.",
            f"{first} told everyone about it, even the neighbours who did not ask.",
        ),
        _pick(
            rng,
            "Nothing went wrong that day, and that was the surprise.",
            f"Weeks later, {first} could not imagine the house without it.",
            "Of course, the instructions were lost before the first week was out.",
        ),
    ])


def dialogue_text(t: Ticket, rng: random.Random) -> str:
    """A transcript of a support call about a ticket."""
    first = t.customer.name.split()[0]
    agent = rng.choice(["Agent", "Support"])
    return "\n".join([
        f"{agent}: Thank you for calling {t.product.company}, how can I help?",
        f"{first}: Hello, this is {t.customer.name}. My {t.product.name} {t.product.kind} {t.problem}.",
        f"{agent}: I am sorry to hear that. Do you have the order number?",
        f"{first}: Yes, it is {t.order_id}.",
        f"{agent}: Thank you, {t.customer.name}. So the {t.product.name} {t.product.kind} {t.problem_short}.",
        f"{agent}: Would a {t.request} work for you?",
        f"{first}: {_pick(rng, 'Yes, that would be great.', 'That would help, thank you.', 'I suppose so.')}",
    ])


# -- the corpus ----------------------------------------------------------------------
def _document(world: World, rng: random.Random) -> tuple[str, str]:
    """One document of a kind drawn with the corpus's mix of kinds."""
    kinds: dict[str, Callable[[], str]] = {
        "ticket": lambda: ticket_thread(world.ticket(), rng),
        "contract": lambda: contract_text(world.contract(), rng),
        "company": lambda: _company_doc(world, rng),
        "place": lambda: place_article(world.place(), rng),
        "product": lambda: product_article(world.product(), rng),
        "story": lambda: story_text(world, rng),
        "dialogue": lambda: dialogue_text(world.ticket(), rng),
    }
    weights = {"ticket": 5, "contract": 4, "company": 3, "place": 1, "product": 2, "story": 2, "dialogue": 3}
    kind = rng.choices(list(weights), weights=list(weights.values()))[0]
    return kind, kinds[kind]()


def _company_doc(world: World, rng: random.Random) -> str:
    company = world.company()
    return company_article(company, [p for p in world.products if p.company == company.name], rng)


def pretraining_corpus(world: World, n_documents: int, stream: str) -> list[dict]:
    """``n_documents`` raw documents as ``{"id", "kind", "text"}`` rows, drawn from a named stream."""
    w = world.stream(f"corpus:{stream}")
    rows = []
    for i in range(n_documents):
        kind, text = _document(w, w.rng)
        rows.append({"id": f"{stream}-{i}", "kind": kind, "text": text})
    return rows
