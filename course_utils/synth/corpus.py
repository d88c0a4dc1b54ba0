"""Raw documents rendered from the world: what the base model reads during pre-training.

Support tickets written up as prose, contract excerpts, encyclopedia-style articles, short
stories, dialogue transcripts, records exported from the help desk and FAQ pages. None of them
is an instruction followed by a response; that is the point of a pre-training corpus, and
`tests/test_world.py` checks it.

As on the web, many documents restate their own facts: a help desk's note under a ticket, a
box of key terms under a contract, an exported record, a page of questions and answers. Reading
them, a base model learns to find a name, a number or a clause earlier in its context and copy
it; instruction tuning then only has to teach it when to do so and in which form.
"""
from __future__ import annotations

import json
import random
from typing import Callable

from course_utils.synth.world import Company, Contract, Place, Product, Ticket, World


def _pick(rng: random.Random, *options: str) -> str:
    return rng.choice(options)


def _a(phrase: str) -> str:
    """The phrase with its indefinite article: "an Arcworks D3", "a Glenvik P3"."""
    return f"an {phrase}" if phrase[:1].lower() in "aeiou" else f"a {phrase}"


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
        f"{first} bought {_a(p.name)} {p.kind} from {p.company} (order {t.order_id}).",
        f"The order {t.order_id} was for {_a(p.name)} {p.kind} made by {p.company}.",
        f"{first} owns {_a(p.name)} {p.kind}, order {t.order_id}, sold by {p.company}.",
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


def desk_note(t: Ticket, rng: random.Random) -> str:
    """The help desk's internal note under a ticket: its facts again, in the desk's shorthand."""
    c, p = t.customer, t.product
    return _pick(
        rng,
        f"Desk note: {c.name}, {p.name} {p.kind}, {t.problem_short}. Wants a {t.request}.",
        f"Desk note: {t.request} requested by {c.name}; the {p.name} {p.kind} {t.problem_short}.",
        f"Desk note for the queue: the {p.name} {p.kind} of {c.name} {t.problem_short}; {t.request} asked for.",
    )


def ticket_thread(t: Ticket, rng: random.Random) -> str:
    """A ticket as the help desk stores it: the customer's message, usually the reply, often a desk note."""
    parts = [ticket_text(t, rng)]
    if rng.random() < 0.7:
        parts.append(agent_reply(t, rng))
    if rng.random() < 0.5:
        parts.append(desk_note(t, rng))
    return "\n\n".join(parts)


def ticket_export(t: Ticket, rng: random.Random) -> str:
    """A ticket and the record the help desk's software exported for it, as JSON."""
    record = {"ticket": t.ticket_id, "customer": t.customer.name, "product": t.product.name,
              "order_id": t.order_id, "request": t.request, "urgency": t.urgency}
    return f"{ticket_text(t, rng)}\n\nExported record: {json.dumps(record)}"


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


def key_terms(k: Contract, rng: random.Random) -> str:
    """The box of key terms that a contract database prints under an agreement."""
    return _pick(
        rng,
        f"Key terms. Length {k.term_months} months, liability limited to {k.cap_text}, law of {k.governing_law}.",
        f"Key terms. Liability limited to {k.cap_text}; runs {k.term_months} months; law of {k.governing_law}.",
    )


def contract_record(k: Contract, rng: random.Random) -> str:
    """A contract as the contract database stores it: the text and, often, its key terms."""
    text = contract_text(k, rng)
    return f"{text}\n\n{key_terms(k, rng)}" if rng.random() < 0.5 else text


# -- encyclopedia articles -----------------------------------------------------------
def company_article(c: Company, products: list[Product], rng: random.Random) -> str:
    """An encyclopedia entry about a company, the source of QA passages."""
    made = " and ".join(f"the {p.name} {p.kind}" for p in products)
    lines = [
        _pick(
            rng,
            f"{c.name} is a maker of {c.industry} based in {c.town}.",
            f"{c.name} is {_a(c.industry)} company with its head office in {c.town}.",
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
        f"The {p.name} is {_a(p.kind)} made by {p.company}.",
        _pick(rng, f"It was first sold in {p.year}.", f"It came onto the market in {p.year}."),
        f"It costs {p.price} {_pick(rng, 'crowns', 'crowns in most shops')}.",
    ])


def faq_page(world: World, rng: random.Random) -> str:
    """A catalogue entry followed by the questions readers ask about it, each with its answer."""
    if rng.random() < 0.5:
        company = world.company()
        article = company_article(company, [p for p in world.products if p.company == company.name], rng)
        pairs = [(f"Who founded {company.name}?", company.founder),
                 (f"Where is {company.name} based?", company.town),
                 (f"When was {company.name} founded?", str(company.founded))]
    else:
        product = world.product()
        article = product_article(product, rng)
        pairs = [(f"Who makes the {product.name}?", product.company),
                 (f"How much does the {product.name} cost?", f"{product.price} crowns"),
                 (f"Since when is the {product.name} sold?", str(product.year))]
    asked = rng.sample(pairs, 2)
    return article + "\n\nReaders asked\n" + "\n".join(f"Q: {q}\nA: {a}." for q, a in asked)


# -- stories and dialogues -----------------------------------------------------------
def story_text(world: World, rng: random.Random) -> str:
    """A short story in which a person, a product and a place meet."""
    person, product, place = world.person(), world.product(), world.place()
    first = person.name.split()[0]
    return " ".join([
        _pick(
            rng,
            f"One grey morning in {place.name}, {first} unpacked a new {product.kind}.",
            f"{first} had lived in {place.name} for years before buying {_a(product.kind)}.",
        ),
        f"It was {_a(product.name)}, and the box still smelled of the shop.",
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


# -- records that name the same people again --------------------------------------------
def meeting_minutes(world: World, rng: random.Random) -> str:
    """Minutes of a support team's meeting: who came, then what each of them said or will do."""
    company = world.company()
    people = [world.person().name for _ in range(rng.choice([3, 4]))]
    t = world.ticket()
    lines = [f"Minutes of the support meeting at {company.name}, {t.day} {t.month}.",
             f"Present: {', '.join(people)}."]
    lead, *others = people
    lines.append(f"{lead} opened the meeting.")
    for person in others:
        lines.append(_pick(
            rng,
            f"{person} reported on ticket {t.ticket_id} about {_a(t.product.name)} {t.product.kind}.",
            f"{person} will call {t.customer.name} about order {t.order_id}.",
            f"{person} asked {lead} to check order {t.order_id}.",
            f"{person} agreed to write to {t.customer.name} about the {t.request}.",
        ))
    lines.append(f"{rng.choice(others)} will send these minutes to {lead}.")
    return " ".join(lines)


def call_log(world: World, rng: random.Random) -> str:
    """A help desk's call log: callers and their orders, then the calls back to the same callers."""
    calls = [world.ticket() for _ in range(rng.choice([2, 3]))]
    lines = [f"Call log of the {calls[0].product.company} help desk."]
    hour = rng.randrange(8, 12)
    for minute, t in zip(sorted(rng.sample(range(60), len(calls))), calls):
        lines.append(f"{hour:02d}:{minute:02d} {t.customer.name} called about order {t.order_id} ({t.product.name}).")
    rng.shuffle(calls)
    for minute, t in zip(sorted(rng.sample(range(60), len(calls))), calls):
        lines.append(_pick(
            rng,
            f"{hour + 2:02d}:{minute:02d} called back {t.customer.name}: a {t.request} for order {t.order_id}.",
            f"{hour + 2:02d}:{minute:02d} {t.customer.name} (order {t.order_id}) was offered a {t.request}.",
        ))
    return "\n".join(lines)


def parcel_code(rng: random.Random) -> str:
    """A courier's tracking code: two letters and six digits, as random as a real one."""
    return f"{rng.choice('BCDFGHKLMNPRSTVXZ')}{rng.choice('ABCDEFGHJKLMNPRSTUVWXYZ')}{rng.randrange(100000, 999999)}"


def parcel_log(world: World, rng: random.Random) -> str:
    """A delivery depot's log: parcels and their addressees, then what became of each parcel."""
    parcels = [(parcel_code(rng), world.person().name) for _ in range(rng.choice([3, 4]))]
    t = world.ticket()
    lines = [f"Parcel log of the {t.product.company} depot, {t.day} {t.month}.",
             "Out for delivery: " + ", ".join(f"{code} to {name}" for code, name in parcels) + "."]
    rng.shuffle(parcels)
    hour = rng.randrange(9, 12)
    for minute, (code, name) in zip(sorted(rng.sample(range(60), len(parcels))), parcels):
        lines.append(_pick(
            rng,
            f"{hour:02d}:{minute:02d} delivered {code} to {name}.",
            f"{hour:02d}:{minute:02d} {code} returned: {name} was not at home.",
            f"{hour:02d}:{minute:02d} {name} signed for {code}.",
        ))
    return "\n".join(lines)


# -- the corpus ----------------------------------------------------------------------
def _document(world: World, rng: random.Random) -> tuple[str, str]:
    """One document of a kind drawn with the corpus's mix of kinds."""
    kinds: dict[str, Callable[[], str]] = {
        "ticket": lambda: ticket_thread(world.ticket(), rng),
        "export": lambda: ticket_export(world.ticket(), rng),
        "contract": lambda: contract_record(world.contract(), rng),
        "faq": lambda: faq_page(world, rng),
        "company": lambda: _company_doc(world, rng),
        "place": lambda: place_article(world.place(), rng),
        "product": lambda: product_article(world.product(), rng),
        "story": lambda: story_text(world, rng),
        "dialogue": lambda: dialogue_text(world.ticket(), rng),
        "minutes": lambda: meeting_minutes(world, rng),
        "call_log": lambda: call_log(world, rng),
        "parcels": lambda: parcel_log(world, rng),
    }
    weights = {"ticket": 5, "export": 1, "contract": 4, "company": 2, "faq": 1, "place": 1, "product": 2,
               "story": 2, "dialogue": 3, "minutes": 2, "call_log": 2, "parcels": 4}
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
