"""Preference data and Direct Preference Optimisation (DPO), written out to be read.

SFT shows a model one target per prompt and raises its likelihood. Preference data holds a
comparison instead: a prompt, a response people preferred (``chosen``) and one they liked less
(``rejected``), where both may be acceptable. DPO learns from such triples directly:

1. the shipped pairs (``shipped.load_preference_pairs``) are formal rewrites in which both answers
   carry every fact and the chosen one also thanks the reader (``thanks_the_reader`` checks it);
2. ``pair_batch``: a batch of pairs as one padded batch, the chosen rows first and then the
   rejected rows, labelled as in ``course_utils.sft`` (-100 everywhere but the answer);
3. ``token_logps`` and ``sequence_logps``: the log-probability of each answer token, and of a
   whole answer given its prompt;
4. ``dpo_loss``: with a frozen reference model (the model before DPO),

       loss = -log sigmoid(beta * ([log pi(y_w) - log ref(y_w)] - [log pi(y_l) - log ref(y_l)]))

   averaged over the pairs, where y_w is the chosen answer and y_l the rejected one;
   ``beta`` times a bracket is that answer's *implicit reward*;
5. ``win_rates`` and ``pair_summary``: how often a model's answers take the preferred style, and
   what it makes of held-out pairs, before and after DPO; ``drift``: how far its own answers have
   moved from the reference's (KL divergence, length, repeated thank-yous), where DPO over-optimises.

The same loss is TRL's ``DPOTrainer`` default (``loss_type="sigmoid"``); the tests check that
both give the same number on the same batch.
"""
from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch.nn import functional as F
from transformers import PreTrainedTokenizerBase

from course_utils import sft
from course_utils.evaluate import Evaluation, evaluate_model
from course_utils.generate import sampled_answers
from course_utils.shipped import prompt_text
from course_utils.train import IGNORE, Batch, to_device


# Closing sentences that thank the reader: the preferred rewrite ends with one of them.
CLOSINGS = ("Thank you.", "Thank you for your help.", "Thank you in advance.", "Many thanks for your time.")


# -- the preferred style and the data --------------------------------------------------------------
def thanks_the_reader(answer: str) -> bool:
    """The answer's last sentence thanks the reader: the preferred style of a formal rewrite."""
    last = re.split(r"(?<=[.!?])\s+", answer.strip())[-1]
    return re.search(r"\bthank", last, re.IGNORECASE) is not None


def with_closings(rows: Sequence[dict], share: float, seed: int = 0) -> list[dict]:
    """Copies of ``rows`` in which about ``share`` of the outputs end with a thank-you from ``CLOSINGS``.

    This is SFT data written by several people: some close with thanks, some do not, and both
    kinds of answer are acceptable.
    """
    if not 0 <= share <= 1:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    rng = random.Random(f"{seed}:closings")
    return [{**r, "output": f"{r['output']} {rng.choice(CLOSINGS)}"} if rng.random() < share else dict(r)
            for r in rows]


def to_trl(pairs: Sequence[dict]) -> list[dict]:
    """Pairs in TRL's conversational preference format: ``prompt``, ``chosen`` and ``rejected`` message lists."""
    return [{"prompt": [{"role": "user", "content": prompt_text(p)}],
             "chosen": [{"role": "assistant", "content": p["chosen"]}],
             "rejected": [{"role": "assistant", "content": p["rejected"]}]} for p in pairs]


# -- log-probabilities of answers ------------------------------------------------------------------
def answer_batch(tokenizer: PreTrainedTokenizerBase, rows: Sequence[dict], answers: Sequence[str],
                 device: torch.device | str = "cpu") -> Batch:
    """Row i holds the prompt of ``rows[i]`` answered with ``answers[i]``, right-padded, on ``device``.

    Labels follow ``sft.tokenize_conversation``: the answer and its end-of-turn token are
    targets; the prompt and the padding are -100.
    """
    conversations = [[{"role": "user", "content": prompt_text(r)}, {"role": "assistant", "content": a}]
                     for r, a in zip(rows, answers, strict=True)]
    examples = [sft.tokenize_conversation(tokenizer, m, where=f"answer row {i}") for i, m in enumerate(conversations)]
    return to_device(sft.collate_padded(examples, tokenizer.pad_token_id), device)


def pair_batch(tokenizer: PreTrainedTokenizerBase, pairs: Sequence[dict], device: torch.device | str = "cpu") -> Batch:
    """Rows 0..n-1 hold the chosen conversations and rows n..2n-1 the rejected ones (``answer_batch``)."""
    return answer_batch(tokenizer, [*pairs, *pairs], [p["chosen"] for p in pairs] + [p["rejected"] for p in pairs],
                        device)


def token_logps(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """log p(token | everything before it) at every target position, 0 elsewhere; shape (rows, length - 1)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
    log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # position t predicts token t + 1
    targets = batch["labels"][:, 1:]
    picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return picked * (targets != IGNORE)


def sequence_logps(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """log p(answer | prompt) of every row: the sum of its answer tokens' log-probabilities."""
    return token_logps(model, batch).sum(dim=1)


def answer_tokens(tokenizer: PreTrainedTokenizerBase, batch: Batch, logps: torch.Tensor, row: int) -> pd.DataFrame:
    """The answer tokens of one row of ``batch`` beside their ``token_logps``: where two answers part shows here."""
    targets = batch["labels"][row, 1:].cpu()
    scored = targets != IGNORE
    return pd.DataFrame({"token": [repr(tokenizer.decode([t])) for t in targets[scored].tolist()],
                         "log p": logps[row].cpu()[scored].tolist()})


# -- the DPO loss ----------------------------------------------------------------------------------
@dataclass
class DPOOutput:
    """The DPO loss of a batch and what it is made of, one value per pair."""

    loss: torch.Tensor  # mean over the pairs
    chosen_rewards: torch.Tensor  # beta * (log pi(chosen) - log ref(chosen))
    rejected_rewards: torch.Tensor  # beta * (log pi(rejected) - log ref(rejected))

    @property
    def margins(self) -> torch.Tensor:
        """How much more the implicit reward favours the chosen answer than the rejected one."""
        return self.chosen_rewards - self.rejected_rewards


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, reference_chosen: torch.Tensor,
             reference_rejected: torch.Tensor, beta: float = 0.1) -> DPOOutput:
    """The DPO loss from the sequence log-probabilities of the policy and of the frozen reference.

    Only differences count: adding the same number to an answer's log-probability under both
    models, or to both answers' log-ratios, leaves the loss as it was.
    """
    chosen_rewards = beta * (policy_chosen - reference_chosen)
    rejected_rewards = beta * (policy_rejected - reference_rejected)
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    return DPOOutput(loss, chosen_rewards.detach(), rejected_rewards.detach())


def batch_dpo_loss(policy: torch.nn.Module, reference: torch.nn.Module, batch: Batch, beta: float = 0.1) -> DPOOutput:
    """The DPO loss of a ``pair_batch``: the policy with gradients, the reference without."""
    n = batch["input_ids"].shape[0] // 2
    policy_logps = sequence_logps(policy, batch)
    with torch.no_grad():
        reference_logps = sequence_logps(reference, batch)
    return dpo_loss(policy_logps[:n], policy_logps[n:], reference_logps[:n], reference_logps[n:], beta)


# -- what a model prefers --------------------------------------------------------------------------
@torch.no_grad()
def pair_summary(policy: torch.nn.Module, reference: torch.nn.Module, batch: Batch, beta: float = 0.1) -> dict[str, float]:
    """What a policy makes of the pairs of a ``pair_batch``: its reward margins against ``reference``,
    how often it finds the chosen answer the likelier, and the mean log-probability of each side."""
    n = batch["input_ids"].shape[0] // 2
    margins = batch_dpo_loss(policy, reference, batch, beta).margins
    logps = sequence_logps(policy, batch)
    return {
        "mean reward margin": margins.mean().item(),
        "pairs with a positive margin": (margins > 0).float().mean().item(),
        "model finds chosen likelier": (logps[:n] > logps[n:]).float().mean().item(),
        "mean log p(chosen)": logps[:n].mean().item(),
        "mean log p(rejected)": logps[n:].mean().item(),
    }


def thank_yous(answer: str) -> int:
    """How many times the answer thanks the reader: one closing is the preferred style, more is too much."""
    return len(re.findall(r"\bthank", answer, re.IGNORECASE))


def drift(policy: torch.nn.Module, reference: torch.nn.Module, tokenizer: PreTrainedTokenizerBase,
          rows: Sequence[dict], samples_per_prompt: int = 8, max_new_tokens: int = 80) -> dict[str, float]:
    """How far the policy's own answers to ``rows`` have moved from the reference's, where a preference
    run over-optimises: the KL divergence, the length and the repeated thank-yous of sampled answers.

    The KL divergence KL(policy || reference) of whole answers is estimated from the samples as the
    mean of log pi(y | x) - log ref(y | x): DPO's beta is the price it sets on exactly this.
    """
    answers = sampled_answers(policy, tokenizer, rows, samples_per_prompt=samples_per_prompt,
                              max_new_tokens=max_new_tokens)
    prompts = [r for r in rows for _ in range(samples_per_prompt)]
    device = next(policy.parameters()).device
    gaps = []
    for start in range(0, len(answers), 32):  # a few rows at a time: sampled answers can be long
        batch = answer_batch(tokenizer, prompts[start:start + 32], answers[start:start + 32], device)
        with torch.no_grad():
            gaps.append(sequence_logps(policy, batch) - sequence_logps(reference, batch))
    words = [len(a.split()) / len(r["output"].split()) for a, r in zip(answers, prompts)]
    return {
        "KL to the reference (nats per answer)": torch.cat(gaps).mean().item(),
        "length against the written answer": sum(words) / len(words),
        "more than one thank-you": sum(thank_yous(a) > 1 for a in answers) / len(answers),
    }


def win_rates(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, rows: Sequence[dict],
              samples_per_prompt: int = 8, max_new_tokens: int = 80) -> tuple[dict[str, float], Evaluation]:
    """Shares of the model's answers to ``rows`` that thank the reader, greedy and sampled, beside the
    scorer's verdicts on the greedy answers, and the greedy ``Evaluation`` itself.

    The greedy answer is the model's single favourite; samples at temperature 1 show how often it
    writes each style. The field accuracy shows whether the facts survive a change of style.
    """
    greedy = evaluate_model(model, tokenizer, rows, max_new_tokens=max_new_tokens)
    samples = sampled_answers(model, tokenizer, rows, samples_per_prompt=samples_per_prompt,
                              max_new_tokens=max_new_tokens)
    return {
        "greedy win rate": greedy.answers["answer"].map(thanks_the_reader).mean(),
        "sampled win rate": sum(map(thanks_the_reader, samples)) / len(samples),
        "field accuracy": greedy.answers["score"].mean(),
        "format kept": greedy.answers["format_ok"].mean(),
        "stopped at EOS": greedy.answers["stopped_at_eos"].mean(),
    }, greedy
