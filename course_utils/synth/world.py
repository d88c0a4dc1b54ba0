"""A small fictional world: people, companies, products, places and the events between them.

Every document of the pre-training corpus and every instruction pair is rendered from the
records made here. Because the records are kept, a model's output can be scored exactly:
we know which customer, product and problem a ticket is about, and which term, liability
cap and governing law a contract states. Everything is drawn from a seeded ``random.Random``,
so the same seed always gives the same world.
"""
from __future__ import annotations

import copy
import random
from dataclasses import asdict, dataclass

FIRST_NAMES = [
    "Mira", "Tobias", "Anouk", "Ravi", "Selma", "Jonah", "Ines", "Kasper", "Lena", "Omar",
    "Freya", "Dario", "Yuki", "Hannah", "Milo", "Priya", "Elias", "Noor", "Leon", "Ada",
    "Vera", "Samir", "Greta", "Felix", "Lotte", "Marek", "Zoe", "Arvid", "Chiara", "Hugo",
    "Ilse", "Mateo", "Nadia", "Oskar", "Paula", "Quentin", "Rosa", "Stefan", "Talia", "Uma",
    "Viggo", "Wanda", "Xander", "Yara", "Bruno", "Clara", "Dmitri", "Esme", "Farid", "Gwen",
]
SURNAMES = [
    "Holm", "Varga", "Okafor", "Lindqvist", "Brandt", "Moreau", "Castell", "Nakamura", "Kowal",
    "Eriksen", "Duval", "Petrov", "Sato", "Albers", "Quint", "Ferraro", "Haddad", "Janssen",
    "Novak", "Rahman", "Stroud", "Tamm", "Ueda", "Voss", "Wilde", "Yilmaz", "Zeller", "Berg",
    "Costa", "Dahl", "Engel", "Fisk", "Gallo", "Hart", "Ibsen", "Keller", "Lund", "Marsh",
]
TOWNS = [
    "Eastmere", "Korvale", "Brindle", "Ostrava Bay", "Halden Cross", "Marrow", "Quillby",
    "Sundholm", "Tessaly", "Westford", "Carrowmore", "Lakeport", "Pinehurst", "Redwater",
    "Stonebridge", "Vellmar", "Ashcombe", "Northwick",
]
REGIONS = ["Valdria", "Ostmark", "the Calder Isles", "Norland", "Sorvenia", "Brennland", "Aldmoor"]
FEATURES = [
    "a river harbour", "an old salt market", "a glass-roofed railway station", "a long sandy bay",
    "a ring of wooded hills", "a university of engineering", "a lighthouse on a basalt cliff",
    "a yearly lantern festival", "a canal lined with warehouses", "a mountain observatory",
]
COMPANY_STEMS = [
    "Bright", "Nor", "Tal", "Lumo", "Kest", "Ver", "Oak", "Fen", "Arc", "Sol", "Mar", "Quill",
    "Hal", "Ember", "Glen", "Tide", "Rook", "Cedar", "Vinter", "Zeph",
]
COMPANY_ENDINGS = ["well", "vik", "sen", "ora", "line", "field", "works", "gate", "mark", "wood"]
COMPANY_FORMS = ["Ltd", "Group", "Co", "Labs", "Industries", "& Sons"]
INDUSTRIES = {
    "kitchen appliances": ["kettle", "toaster", "coffee grinder", "blender", "rice cooker"],
    "home electronics": ["router", "smart speaker", "e-reader", "thermostat", "doorbell camera"],
    "sports equipment": ["bike lock", "rowing machine", "fitness tracker", "tent", "e-bike"],
    "office furniture": ["standing desk", "office chair", "monitor arm", "desk lamp", "filing cabinet"],
    "audio gear": ["headphones", "turntable", "soundbar", "microphone", "radio"],
}
MODEL_LETTERS = "ABDEFHKMPRSTVXZ"
# Each problem is stated in a ticket's prose and restated, shorter, in its one-line summary.
PROBLEMS = {
    "stops working after a few minutes": "stops working after a few minutes",
    "arrived with a cracked casing": "arrived cracked",
    "will not turn on at all": "will not turn on",
    "makes a loud rattling noise": "makes a rattling noise",
    "keeps losing its connection": "keeps losing its connection",
    "shows an error light on start-up": "shows an error light",
    "was delivered without its power cable": "came without a power cable",
    "overheats during normal use": "overheats",
    "has a button that no longer responds": "has a broken button",
    "drains its battery within an hour": "drains its battery quickly",
}
REQUESTS = ["refund", "replacement", "repair", "technician visit", "return label"]
# Urgency is stated by cues in the ticket text, so a reader can infer the label.
URGENCY_CUES = {
    "high": [
        "This is urgent because the shop reopens tomorrow morning.",
        "They need it fixed today, as it is used for their work.",
        "It is urgent: an elderly relative depends on it.",
        "They ask for an answer within the hour.",
    ],
    "medium": [
        "They would like an answer within the week.",
        "It is not an emergency, but they use it every day.",
        "A reply in the next few days would suit them.",
    ],
    "low": [
        "There is no rush, as they have a spare one.",
        "They say it can wait until next month.",
        "It is not urgent at all.",
    ],
}
SENTIMENT_CUES = {
    "negative": [
        "They are very unhappy with the service so far.",
        "They write that this is the worst purchase they have made.",
        "They are angry that nobody has answered their earlier emails.",
    ],
    "neutral": [
        "They describe the problem calmly and list the steps already tried.",
        "They simply ask what the next step is.",
    ],
    "positive": [
        "They add that they love the product and the support has always been kind.",
        "They thank the team for the quick help they received last year.",
        "They say the product was excellent until now.",
    ],
}
CONTRACT_KINDS = ["supply agreement", "service agreement", "licence agreement", "maintenance agreement"]
TERMS_MONTHS = [6, 12, 18, 24, 36, 48, 60]
CURRENCY = "crowns"
CAPS = [50_000, 100_000, 150_000, 250_000, 400_000, 500_000, 750_000, 1_000_000, 2_000_000]


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    phone: str
    town: str


@dataclass(frozen=True)
class Product:
    name: str
    kind: str
    company: str
    price: int
    year: int


@dataclass(frozen=True)
class Company:
    name: str
    industry: str
    town: str
    founded: int
    employees: int
    founder: str


@dataclass(frozen=True)
class Place:
    name: str
    region: str
    population: int
    feature: str


@dataclass(frozen=True)
class Ticket:
    """A customer's complaint, with every fact a summary or a label must get right."""

    ticket_id: int
    customer: Person
    product: Product
    problem: str
    request: str
    urgency: str
    urgency_cue: str
    sentiment: str
    sentiment_cue: str
    order_id: str
    day: int
    month: str

    @property
    def problem_short(self) -> str:
        return PROBLEMS[self.problem]


@dataclass(frozen=True)
class Contract:
    """An agreement between two companies: the three facts a paralegal's summary needs."""

    kind: str
    supplier: Company
    customer: Company
    term_months: int
    liability_cap: int
    governing_law: str
    start_month: str
    start_year: int
    notice_days: int

    @property
    def cap_text(self) -> str:
        return f"{self.liability_cap:,} {CURRENCY}"


MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]


def record(obj: object) -> dict:
    """A plain dict of a world record, for the structured fields kept with every example."""
    return asdict(obj)


class World:
    """A seeded source of people, companies, products, places, tickets and contracts."""

    def __init__(self, seed: int = 0, n_companies: int = 80, n_places: int = 18):
        self.seed = seed
        self.rng = random.Random(seed)
        self.places = [self._place(name) for name in TOWNS[:n_places]]
        self.companies = self._companies(n_companies)
        self.products = [p for c in self.companies for p in self._products(c)]

    def stream(self, name: str) -> "World":
        """The same cast with its own random stream, so each split draws its own events."""
        forked = copy.copy(self)
        forked.rng = random.Random(f"{self.seed}:{name}")
        return forked

    # -- building the fixed cast ------------------------------------------------------
    def _place(self, name: str) -> Place:
        r = self.rng
        return Place(name, r.choice(REGIONS), r.randrange(4_000, 900_000, 500), r.choice(FEATURES))

    def _companies(self, n: int) -> list[Company]:
        names: set[str] = set()
        companies = []
        while len(companies) < n:
            r = self.rng
            stem = r.choice(COMPANY_STEMS) + r.choice(COMPANY_ENDINGS)
            name = f"{stem} {r.choice(COMPANY_FORMS)}"
            if stem in {c.split()[0] for c in names}:
                continue
            names.add(name)
            companies.append(Company(
                name=name,
                industry=r.choice(sorted(INDUSTRIES)),
                town=r.choice(self.places).name,
                founded=r.randrange(1890, 2020),
                employees=r.choice([12, 40, 85, 150, 320, 700, 1500, 4200]),
                founder=self.person().name,
            ))
        return companies

    def _products(self, company: Company) -> list[Product]:
        r = self.rng
        brand = company.name.split()[0]
        names: set[str] = set()
        while len(names) < 2:  # two distinct model names per company
            names.add(f"{brand} {r.choice(MODEL_LETTERS)}{r.randrange(1, 10)}")
        return [
            Product(
                name=name,
                kind=kind,
                company=company.name,
                price=r.randrange(19, 900),
                year=r.randrange(max(company.founded, 1995), 2026),
            )
            for name, kind in zip(sorted(names), r.sample(INDUSTRIES[company.industry], 2))
        ]

    # -- drawing new records ----------------------------------------------------------
    def person(self) -> Person:
        r = self.rng
        first, last = r.choice(FIRST_NAMES), r.choice(SURNAMES)
        email = f"{first.lower()}.{last.lower()}{r.randrange(1, 99)}@{r.choice(['mailbox', 'postly', 'inkwell'])}.example"
        phone = f"+99 {r.randrange(100, 999)} {r.randrange(1000, 9999)}"
        return Person(f"{first} {last}", email, phone, r.choice(self.places).name)

    def ticket(self) -> Ticket:
        r = self.rng
        urgency = r.choice(sorted(URGENCY_CUES))
        sentiment = r.choice(sorted(SENTIMENT_CUES))
        return Ticket(
            ticket_id=r.randrange(10_000, 99_999),
            customer=self.person(),
            product=r.choice(self.products),
            problem=r.choice(sorted(PROBLEMS)),
            request=r.choice(REQUESTS),
            urgency=urgency,
            urgency_cue=r.choice(URGENCY_CUES[urgency]),
            sentiment=sentiment,
            sentiment_cue=r.choice(SENTIMENT_CUES[sentiment]),
            order_id=f"{r.choice('ABCDEFGHJK')}{r.randrange(100000, 999999)}",
            day=r.randrange(1, 29),
            month=r.choice(MONTHS),
        )

    def contract(self) -> Contract:
        r = self.rng
        supplier, customer = r.sample(self.companies, 2)
        return Contract(
            kind=r.choice(CONTRACT_KINDS),
            supplier=supplier,
            customer=customer,
            term_months=r.choice(TERMS_MONTHS),
            liability_cap=r.choice(CAPS),
            governing_law=r.choice(REGIONS),
            start_month=r.choice(MONTHS),
            start_year=r.randrange(2015, 2027),
            notice_days=r.choice([30, 60, 90]),
        )

    def company(self) -> Company:
        return self.rng.choice(self.companies)

    def place(self) -> Place:
        return self.rng.choice(self.places)

    def product(self) -> Product:
        return self.rng.choice(self.products)
