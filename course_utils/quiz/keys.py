"""Keeping answers out of plain sight in the learner's question banks.

A learner bank never holds an answer key. For every option it holds a check value,
``sha256(salt|question id|option key|1)`` when the option is right and the same with ``0``
when it is wrong (truncated to 16 hex digits), so every option carries a value of the same
shape and neither a field name nor the number of values gives the answer away. Numeric
answers and explanations cannot be hashed (a tolerance needs the number; an explanation must
be shown), so they are *sealed*: XOR-ed with a key stream derived from the salt and the
question id, then base64-encoded.

This deters peeking; it is not security. Anyone who reads this module can recompute a check
value for both cases, or unseal a value, in one line.
"""
from __future__ import annotations

import base64
import hashlib

CHECK_LENGTH = 16  # hex digits kept of each sha256; 64 bits is plenty to tell 1 from 0


def option_check(salt: str, question_id: str, key: str, correct: bool) -> str:
    """The check value stored beside option ``key``: it encodes whether the option is right."""
    text = f"{salt}|{question_id}|{key}|{int(correct)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:CHECK_LENGTH]


def is_correct_option(salt: str, question_id: str, key: str, check: str) -> bool:
    """Whether the stored ``check`` of option ``key`` says the option is right."""
    return option_check(salt, question_id, key, True) == check


def _key_stream(salt: str, question_id: str, purpose: str, length: int) -> bytes:
    """As many pseudo-random bytes as ``length``, fixed by salt, question and purpose."""
    stream = b""
    block = 0
    while len(stream) < length:
        seed = f"{salt}|{question_id}|{purpose}|{block}".encode("utf-8")
        stream += hashlib.sha256(seed).digest()
        block += 1
    return stream[:length]


def seal(salt: str, question_id: str, purpose: str, text: str) -> str:
    """``text`` made unreadable at a glance (reversible with :func:`unseal`)."""
    data = text.encode("utf-8")
    mixed = bytes(a ^ b for a, b in zip(data, _key_stream(salt, question_id, purpose, len(data))))
    return base64.b64encode(mixed).decode("ascii")


def unseal(salt: str, question_id: str, purpose: str, sealed: str) -> str:
    """The text that :func:`seal` hid."""
    mixed = base64.b64decode(sealed.encode("ascii"))
    data = bytes(a ^ b for a, b in zip(mixed, _key_stream(salt, question_id, purpose, len(mixed))))
    return data.decode("utf-8")
