"""Preference pairs and the DPO loss of course_utils.preference: exact values, and TRL's number on the same batch."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from course_utils import preference, sft
from course_utils.evaluate import score_row
from course_utils.generate import sampled_answers
from course_utils.shipped import load_preference_pairs


@pytest.fixture(scope="module")
def pairs():
    return load_preference_pairs("train")[:6]


# -- the data ----------------------------------------------------------------------------------


def test_both_answers_are_acceptable_and_only_the_chosen_thanks_the_reader(pairs):
    for pair in pairs:
        for side in ("chosen", "rejected"):
            verdict = score_row(pair, pair[side])
            assert verdict["correct"], f"the task's scorer accepts the {side} answer: {pair[side]!r}"
        assert preference.thanks_the_reader(pair["chosen"])
        assert not preference.thanks_the_reader(pair["rejected"])
        assert pair["chosen"].startswith(pair["rejected"] + " ")


def test_the_style_check_reads_the_last_sentence():
    assert preference.thanks_the_reader("Dear team, my kettle overheats. Thank you for your help.")
    assert preference.thanks_the_reader("Dear team, please help. Many thanks for your time.")
    assert not preference.thanks_the_reader("Thank you for the kettle. It overheats.")
    assert not preference.thanks_the_reader("Dear team, my kettle overheats.")


def test_with_closings_adds_thanks_to_about_the_share_asked_for():
    rows = [{"task": "rewrite", "output": f"Dear support team, note {i}."} for i in range(2000)]
    mixed = preference.with_closings(rows, share=0.3, seed=0)
    share = sum(preference.thanks_the_reader(r["output"]) for r in mixed) / len(mixed)
    assert abs(share - 0.3) < 0.04
    assert mixed == preference.with_closings(rows, share=0.3, seed=0)
    assert all(r["output"] == "Dear support team, note 0." for r in preference.with_closings(rows[:1], share=0.0))
    with pytest.raises(ValueError, match="share"):
        preference.with_closings(rows, share=1.5)


# -- log-probabilities ---------------------------------------------------------------------------
def test_pair_batch_puts_chosen_rows_first_and_scores_only_the_answers(tokenizer, pairs):
    batch = preference.pair_batch(tokenizer, pairs)
    n = len(pairs)
    assert batch["input_ids"].shape[0] == 2 * n
    for i, pair in enumerate(pairs):
        for row, side in ((i, "chosen"), (n + i, "rejected")):
            targets = batch["labels"][row][batch["labels"][row] != sft.IGNORE].tolist()
            assert targets[-1] == tokenizer.eos_token_id
            assert tokenizer.decode(targets, skip_special_tokens=True).strip() == pair[side]


def test_sequence_logps_sum_to_minus_the_sft_loss_sum(small_model, tokenizer, pairs):
    from course_utils.train import token_loss_sum

    batch = preference.pair_batch(tokenizer, pairs)
    with torch.no_grad():
        total = preference.sequence_logps(small_model, batch).sum()
        loss_sum, _, _ = token_loss_sum(small_model, batch)
    assert float(total) == pytest.approx(-float(loss_sum), rel=1e-5)


def test_the_shared_start_of_two_answers_has_the_same_token_logps(small_model, tokenizer, pairs):
    batch = preference.pair_batch(tokenizer, pairs)
    with torch.no_grad():
        per_token = preference.token_logps(small_model, batch)
    n = len(pairs)
    for i in range(n):
        rejected_targets = int((batch["labels"][n + i, 1:] != sft.IGNORE).sum())
        shared = rejected_targets - 1  # every token of the rejected answer except its end-of-turn token
        start = int((batch["labels"][i, 1:] != sft.IGNORE).nonzero()[0])
        chosen_part = per_token[i, start:start + shared]
        rejected_part = per_token[n + i, start:start + shared]
        assert torch.allclose(chosen_part, rejected_part, atol=1e-5), "same context, same token, same log-probability"


# -- the DPO loss --------------------------------------------------------------------------------
def test_the_loss_is_log_2_when_the_policy_is_the_reference():
    logps = torch.tensor([-12.0, -30.5, -7.25])
    other = torch.tensor([-9.0, -31.0, -20.0])
    out = preference.dpo_loss(logps, other, logps, other, beta=0.1)
    assert float(out.loss) == pytest.approx(math.log(2), abs=1e-7)
    assert torch.equal(out.margins, torch.zeros(3))


def test_the_loss_of_one_pair_by_hand():
    out = preference.dpo_loss(torch.tensor([-1.0]), torch.tensor([-2.0]), torch.tensor([-1.5]), torch.tensor([-1.5]),
                              beta=0.5)
    # rewards: chosen 0.5 * 0.5 = 0.25, rejected 0.5 * -0.5 = -0.25; margin 0.5
    assert float(out.chosen_rewards) == pytest.approx(0.25)
    assert float(out.rejected_rewards) == pytest.approx(-0.25)
    assert float(out.loss) == pytest.approx(math.log(1 + math.exp(-0.5)), abs=1e-7)


def test_only_differences_of_log_ratios_count():
    g = torch.Generator().manual_seed(0)
    pc, pr, rc, rr = (-30 * torch.rand(4, generator=g) for _ in range(4))
    base = float(preference.dpo_loss(pc, pr, rc, rr, beta=0.2).loss)
    shifted_answer = float(preference.dpo_loss(pc + 3.0, pr, rc + 3.0, rr, beta=0.2).loss)
    shifted_both = float(preference.dpo_loss(pc + 5.0, pr + 5.0, rc, rr, beta=0.2).loss)
    assert shifted_answer == pytest.approx(base, abs=1e-6)
    assert shifted_both == pytest.approx(base, abs=1e-6)
    better = float(preference.dpo_loss(pc + 1.0, pr, rc, rr, beta=0.2).loss)
    assert better < base, "raising the chosen answer alone lowers the loss"


def test_the_reference_gets_no_gradient(small_model, tokenizer, pairs):
    policy, reference = small_model, copy.deepcopy(small_model)
    out = preference.batch_dpo_loss(policy, reference, preference.pair_batch(tokenizer, pairs[:2]))
    out.loss.backward()
    assert all(p.grad is None for p in reference.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())


@pytest.mark.slow
def test_the_loss_matches_trl_dpo_trainer(small_model, tokenizer, pairs, tmp_path):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    reference = copy.deepcopy(small_model).eval()
    policy = copy.deepcopy(small_model)
    with torch.no_grad():  # move the policy away from the reference, so that the loss is not log 2
        g = torch.Generator().manual_seed(1)
        for p in policy.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    args = DPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], bf16=False, gradient_checkpointing=False,
                     per_device_train_batch_size=len(pairs), beta=0.1, max_length=512)
    trainer = DPOTrainer(model=policy, ref_model=reference, args=args,
                         train_dataset=Dataset.from_list(preference.to_trl(pairs)), processing_class=tokenizer)
    trl_batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(pairs))])
    policy.eval()
    ours = preference.pair_batch(tokenizer, pairs)
    with torch.no_grad():
        trl_loss = float(trainer.compute_loss(policy, dict(trl_batch)))
        our_loss = float(preference.batch_dpo_loss(policy, reference, ours, beta=0.1).loss)
    trl_targets = trl_batch["input_ids"][trl_batch["completion_mask"].bool()]
    assert torch.equal(trl_targets, ours["labels"][ours["labels"] != sft.IGNORE]), "the same answer tokens"
    assert abs(trl_loss - math.log(2)) > 1e-3
    assert our_loss == pytest.approx(trl_loss, abs=1e-5)


def test_sampled_answers_repeat_with_the_seed(small_model, tokenizer, pairs):
    first = sampled_answers(small_model, tokenizer, pairs[:2], samples_per_prompt=2, max_new_tokens=8, seed=5)
    again = sampled_answers(small_model, tokenizer, pairs[:2], samples_per_prompt=2, max_new_tokens=8, seed=5)
    assert len(first) == 4 and first == again
    assert tokenizer.padding_side == "right", "the tokenizer's padding side is restored"


def test_pair_batch_on_a_device(tokenizer, pairs):
    batch = preference.pair_batch(tokenizer, pairs[:2], device="meta")
    assert all(t.device.type == "meta" for t in batch.values())


def test_answer_tokens_list_one_answer_with_its_log_probabilities(small_model, tokenizer, pairs):
    batch = preference.pair_batch(tokenizer, pairs[:2])
    with torch.no_grad():
        logps = preference.token_logps(small_model, batch)
    rejected = preference.answer_tokens(tokenizer, batch, logps, 3)  # row n + 1: the second pair's rejected answer
    targets = batch["labels"][3][batch["labels"][3] != sft.IGNORE].tolist()
    assert rejected["token"].tolist() == [repr(tokenizer.decode([t])) for t in targets]
    assert rejected["log p"].sum() == pytest.approx(float(logps[3].sum()), abs=1e-4), "every answer token, no other"


def test_pair_summary_of_the_reference_itself_has_no_margins(small_model, tokenizer, pairs):
    batch = preference.pair_batch(tokenizer, pairs)
    summary = preference.pair_summary(small_model, copy.deepcopy(small_model), batch)
    assert summary["mean reward margin"] == 0 and summary["pairs with a positive margin"] == 0
    with torch.no_grad():
        logps = preference.sequence_logps(small_model, batch)
    n = len(pairs)
    assert summary["model finds chosen likelier"] == pytest.approx(float((logps[:n] > logps[n:]).float().mean()))
    assert summary["mean log p(rejected)"] == pytest.approx(float(logps[n:].mean()), abs=1e-4)


def test_win_rates_count_the_answers_that_thank_the_reader(small_model, tokenizer, monkeypatch):
    from course_utils import evaluate
    from course_utils.shipped import load_instructions

    rows = load_instructions("test", tasks=["rewrite"])[:2]
    monkeypatch.setattr(evaluate, "complete", lambda model, tok, prompts, *args: [
        {"text": row["output"], "stopped_at_eos": True, "new_tokens": 1} for row in rows])
    monkeypatch.setattr(preference, "sampled_answers", lambda *args, **kwargs: [
        rows[0]["output"] + " Thank you.", rows[0]["output"], rows[1]["output"], rows[1]["output"]])
    rates, greedy = preference.win_rates(small_model, tokenizer, rows, samples_per_prompt=2)
    assert rates["greedy win rate"] == 0 and rates["sampled win rate"] == 0.25
    assert rates["field accuracy"] == rates["format kept"] == rates["stopped at EOS"] == 1.0
    assert len(greedy.answers) == 2


def test_thank_yous_counts_every_thanking_phrase():
    assert preference.thank_yous("Dear team, my kettle overheats.") == 0
    assert preference.thank_yous("Dear team, my kettle overheats. Thank you.") == 1
    assert preference.thank_yous("Dear team. Thank you. Thank you for your help. Many thanks for your time.") == 3


def test_drift_of_the_reference_itself_is_zero_and_counts_repeated_thanks(small_model, tokenizer, monkeypatch):
    from course_utils.shipped import load_instructions

    rows = load_instructions("test", tasks=["rewrite"])[:2]
    answers = [rows[0]["output"] + " Thank you. Thank you.", rows[0]["output"], rows[1]["output"], rows[1]["output"]]
    monkeypatch.setattr(preference, "sampled_answers", lambda *args, **kwargs: answers)
    same = preference.drift(small_model, small_model, tokenizer, rows, samples_per_prompt=2)
    assert same["KL to the reference (nats per answer)"] == 0
    assert same["more than one thank-you"] == 0.25
    longer = (len(answers[0].split()) / len(rows[0]["output"].split()) + 3) / 4
    assert same["length against the written answer"] == pytest.approx(longer)

    other = copy.deepcopy(small_model)
    with torch.no_grad():
        other.lm_head.weight.mul_(2.0)
    batch = preference.answer_batch(tokenizer, [rows[0], rows[0], rows[1], rows[1]], answers)
    with torch.no_grad():
        expected = (preference.sequence_logps(other, batch) - preference.sequence_logps(small_model, batch)).mean()
    moved = preference.drift(other, small_model, tokenizer, rows, samples_per_prompt=2)
    assert moved["KL to the reference (nats per answer)"] == pytest.approx(expected.item(), rel=1e-5)


def test_dpo_trainer_trains_copies_on_the_pairs_and_keeps_the_held_out_ones_for_evaluation(small_model, tokenizer, pairs):
    from course_utils.trl_runs import dpo_trainer

    reference = copy.deepcopy(small_model).eval()
    before = [p.detach().clone() for p in small_model.parameters()]
    trainer = dpo_trainer(small_model, reference, tokenizer, pairs[:4], pairs[4:], max_steps=1,
                          per_device_train_batch_size=4, learning_rate=1e-3, beta=0.1, max_length=512)
    assert trainer.args.use_cpu and not trainer.args.gradient_checkpointing and trainer.args.learning_rate == 1e-3  # old name: all versions
    assert (len(trainer.train_dataset), len(trainer.eval_dataset)) == (4, 2)
    trainer.train()
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters())), "the copy was trained"
    assert all(torch.equal(a, b) for a, b in zip(before, small_model.parameters())), "the model passed in is as it was"
    assert dpo_trainer(small_model, reference, tokenizer, pairs[:4], max_steps=1).eval_dataset is None
