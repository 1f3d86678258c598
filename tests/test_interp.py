"The interpretability toolkit against known answers: toy DTs whose correct action depends on one thing only."
import numpy as np
import pytest
import torch

from midt.data.dataset import DTDataset
from midt.interp.attention import AttentionAnalyzer
from midt.interp.cache import cache_activations, direct_logit_attribution
from midt.interp.probing import ProbingExperiment
from midt.testing import train_toy_dt

@pytest.fixture(scope="module")
def rtg_toy(tmp_path_factory): return train_toy_dt("rtg", steps=200, out_dir=tmp_path_factory.mktemp("rtg"))

@pytest.fixture(scope="module")
def first_state_toy(tmp_path_factory): return train_toy_dt("first_state", steps=300, out_dir=tmp_path_factory.mktemp("fs"))

def _full_windows(data, K=5):
    "Windows that end at each episode's last step (the whole episode in context, no padding)."
    ds = DTDataset(data, context_length=K, split="all", with_latents=True)
    return ds, ds.gather(np.flatnonzero(ds.timesteps == K - 1))

def _no_hooks(model): return not any(hp.has_hooks for hp in model.hook_dict.values())

def test_rtg_is_probed_near_perfectly_at_the_state_token(rtg_toy):
    model, data = rtg_toy
    ds, _ = _full_windows(data)
    res = {(r["layer"], r["point"]): r for r in ProbingExperiment(model).probe_all_layers(ds, target="rtg", num_samples=1000)}
    assert res[(0, "resid_post")]["score"] > 0.95
    assert res[(0, "resid_pre")]["score"] < 0.5          # before attention the state token holds no return
    assert res[(0, "resid_post")]["control"] < 0.3 and _no_hooks(model)

def test_dla_of_the_rtg_toy_sits_in_attention(rtg_toy):
    model, data = rtg_toy
    _, batch = _full_windows(data)
    labels, contrib = direct_logit_attribution(model, cache_activations(model, batch))
    # logit difference of the two actions the task uses, signed by the correct one
    sign = torch.where(batch["actions"][:, -1] == 0, 1.0, -1.0)
    diff = (contrib[:, :, -1, 0] - contrib[:, :, -1, 1]) * sign                       # [component, batch]
    mean = dict(zip(labels, diff.mean(1).tolist()))
    total = sum(abs(v) for v in mean.values())
    # the state token's own embedding is noise: the decision comes in through attention (and is computed on by the MLP)
    assert abs(mean["embed"]) < 0.05 * total, mean
    assert mean["L0 attn"] > 0.25 * total, mean

def test_a_head_attends_from_the_last_state_to_the_first_state(first_state_toy):
    model, data = first_state_toy
    _, batch = _full_windows(data)
    stats = AttentionAnalyzer(model).analyze_head_specialization([batch])
    pats = AttentionAnalyzer(model).get_attention_patterns(batch)                      # [L, B, H, T, T]
    last_to_first = pats[0, :, :, -2, 1].mean(0)                                        # query s_{K-1}, key s_0
    best = int(last_to_first.argmax())
    assert last_to_first[best] > 0.5, last_to_first
    assert stats[best]["first_state"] == max(s["first_state"] for s in stats)
    # and direct logit attribution puts the decision in that head
    labels, contrib = direct_logit_attribution(model, cache_activations(model, batch), by_head=True)
    correct = batch["actions"][:, -1]
    other = 1 - correct
    diff = (contrib[:, torch.arange(len(correct)), -1, correct] - contrib[:, torch.arange(len(correct)), -1, other]).mean(1)
    by = dict(zip(labels, diff.tolist()))
    heads = {k: v for k, v in by.items() if k.startswith("L0H")}
    assert max(heads, key=heads.get) == f"L0H{best}", by           # the head that reads s_0 is the head that writes the answer
    assert abs(by["embed"]) < 0.1 * sum(abs(v) for v in by.values()), by
    assert _no_hooks(model)

def test_results_are_reproducible_under_a_seed(rtg_toy):
    model, data = rtg_toy
    ds, _ = _full_windows(data)
    a = ProbingExperiment(model, seed=3).probe_all_layers(ds, target="action", num_samples=600)
    b = ProbingExperiment(model, seed=3).probe_all_layers(ds, target="action", num_samples=600)
    assert a == b

def test_probing_ground_truth_latents(rtg_toy):
    model, data = rtg_toy
    ds, _ = _full_windows(data)
    res = ProbingExperiment(model).probe_all_layers(ds, target="latent:answer", num_samples=1000)
    assert max(r["score"] for r in res) > 0.95 and res[0]["metric"] == "accuracy"
