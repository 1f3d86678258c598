"Interventions against known answers: toy DTs whose correct action depends on one thing only, read by one head."
import numpy as np
import pytest
import torch

from midt.data.dataset import DTDataset
from midt.envs.factory import env_config as make_env_config, make_env
from midt.interp.attention import AttentionAnalyzer
from midt.interp.cache import model_inputs
from midt.interp.interventions import Intervention, ablate, closed_loop, resample_test, steer, steering_vector
from midt.interp.patching import ActivationPatcher, logit_diff_metric, rtg_counterfactual
from midt.models.decision_transformer import DecisionTransformer, example_inputs
from midt.testing import train_toy_dt
from midt.utils.config import DTModelConfig

def _windows(data, K=5):
    "Windows that end at each episode's last step (the whole episode in context), as model inputs."
    ds = DTDataset(data, context_length=K, split="all")
    return model_inputs(ds.gather(np.flatnonzero(ds.timesteps == K - 1)))

def _no_hooks(model): return not any(hp.has_hooks for hp in model.hook_dict.values()) and not model._forward_pre_hooks

@pytest.fixture(scope="module")
def rtg_toy(tmp_path_factory):
    "The rtg toy, its windows, and its planted head: the one patching finds when the windows ask for the other return."
    model, data = train_toy_dt("rtg", steps=200, out_dir=tmp_path_factory.mktemp("rtg"))
    w = _windows(data)
    R = w["returns_to_go"][:, -1, 0]
    heads = ActivationPatcher(model).head_patching_effect(w, rtg_counterfactual(w, 1 - 2 * R[:, None, None]), logit_diff_metric(1, 0))
    return model, w, int(heads[0].argmax())

@pytest.fixture(scope="module")
def first_state_toy(tmp_path_factory):
    "The first_state toy, its windows, and its planted head: the one attending from the last state to the first."
    model, data = train_toy_dt("first_state", steps=300, out_dir=tmp_path_factory.mktemp("fs"))
    w = _windows(data)
    pats = AttentionAnalyzer(model).get_attention_patterns(w)                       # [L, B, H, T, T]
    return model, w, int(pats[0, :, :, -2, 1].mean(0).argmax())

def _scores(model, w, **kw):
    "(accuracy on the task, fraction of the correct-vs-other logit difference kept) under `ablate(**kw)`."
    correct = w["actions"][:, -1]
    def ld(lg): return (lg[:, -1].gather(1, correct[:, None]) - lg[:, -1].gather(1, 1 - correct[:, None])).mean()
    with torch.no_grad():
        clean = ld(model(**w))
        with ablate(model, **kw): lg = model(**w)
    return float((lg[:, -1].argmax(-1) == correct).float().mean()), float(ld(lg) / clean)

@pytest.mark.parametrize("toy", ["rtg_toy", "first_state_toy"])
def test_ablating_the_planted_head_destroys_the_task_and_no_other_head_does(toy, request):
    model, w, planted = request.getfixturevalue(toy)
    other = 1 - planted
    acc, kept = _scores(model, w, hook=("z", 0), kind="resample", heads=[planted], reference=w)
    assert acc < 0.7 and kept < 0.35, (acc, kept)                  # chance is 0.5: the task is gone
    acc, kept = _scores(model, w, hook=("z", 0), kind="resample", heads=[other], reference=w)
    assert acc > 0.95 and kept > 0.7, (acc, kept)
    for kind in ("zero", "mean"):                                  # off-distribution ablations: the same ranking
        _, kept_planted = _scores(model, w, hook=("z", 0), kind=kind, heads=[planted], reference=w)
        acc, kept_other = _scores(model, w, hook=("z", 0), kind=kind, heads=[other], reference=w)
        assert kept_planted < 0.7 and kept_other > 0.85 and acc > 0.95, (kind, kept_planted, kept_other, acc)
    assert _no_hooks(model)

def test_resampling_the_rtg_head_from_windows_with_the_same_rtg_preserves_behaviour(rtg_toy):
    model, w, head = rtg_toy
    hyp = {"same RTG": lambda v: v["returns_to_go"][:, -1], "same first state": lambda v: v["states"][:, 0, 0] > 0}
    # the head's input: its query, key and value, all three from the same drawn window
    rows = {r["hypothesis"]: r for r in resample_test(model, w, [("q", 0), ("k", 0), ("v", 0)], hyp, heads=[head], draws=4, n_boot=200)}
    right, wrong, rand = rows["same RTG"], rows["same first state"], rows["random"]
    assert right["logit_diff_kept"] > 0.9 and right["same_action"] > 0.95, right
    assert wrong["logit_diff_kept"] < 0.6 and rand["logit_diff_kept"] < 0.6, (wrong, rand)
    assert right["ci_low"] > max(wrong["ci_high"], rand["ci_high"])          # visibly lower, intervals apart
    assert right["recovered_vs_random"] > 0.9 and abs(rand["recovered_vs_random"]) < 1e-9
    assert _no_hooks(model)

def test_resampling_the_first_state_head_needs_the_first_state(first_state_toy):
    model, w, head = first_state_toy
    hyp = {"same first state": lambda v: v["states"][:, 0, 0] > 0, "same RTG": lambda v: v["returns_to_go"][:, -1]}
    rows = {r["hypothesis"]: r for r in resample_test(model, w, ("z", 0), hyp, heads=[head], draws=4, n_boot=200)}
    assert rows["same first state"]["logit_diff_kept"] > 0.9, rows
    assert rows["same RTG"]["logit_diff_kept"] < 0.3 and rows["random"]["logit_diff_kept"] < 0.3, rows

def test_a_steering_vector_from_the_rtg_toy_moves_the_action_as_the_task_says(rtg_toy):
    model, w, _ = rtg_toy
    R = w["returns_to_go"][:, -1, 0]
    one, zero = {k: v[R == 1] for k, v in w.items()}, {k: v[R == 0] for k, v in w.items()}
    vec = steering_vector(model, one, zero, ("resid_mid", 0), positions=[-2])        # return 1 minus return 0
    with torch.no_grad():
        assert model(**zero)[:, -1].argmax(-1).eq(1).float().mean() > 0.95     # asked for return 0: action 1
        with steer(model, ("resid_mid", 0), vec, positions=[-2]):
            assert model(**zero)[:, -1].argmax(-1).eq(0).float().mean() > 0.9  # pushed toward return 1: action 0
        with steer(model, ("resid_mid", 0), vec, scale=-1.0, positions=[-2]):
            assert model(**one)[:, -1].argmax(-1).eq(1).float().mean() > 0.9   # and back
        with steer(model, ("resid_mid", 0), vec, scale=0.25, positions=[-2]):  # a quarter of it: less of an effect
            quarter = model(**zero)[:, -1].argmax(-1).eq(0).float().mean()
        with steer(model, ("resid_mid", 0), vec, positions=[-2]):
            full = model(**zero)[:, -1].argmax(-1).eq(0).float().mean()
    assert quarter <= full and _no_hooks(model)

def test_no_hook_is_left_behind_when_a_closed_loop_run_fails():
    cfg = make_env_config("key_door_cue", obs_mode="symbolic", max_steps=12)
    torch.manual_seed(0)
    dt = DecisionTransformer(DTModelConfig(embed_dim=16, num_layers=1, num_heads=2, dropout=0.0, max_timestep=20,
                                           state_dim=make_env(cfg).observation_space.shape[0], action_dim=4), context_length=4).eval()
    ref = example_inputs(dt, batch=16)                                       # no padding; rollouts start padded
    unmatched = lambda m: ablate(m, "z", "resample", reference=ref, key=lambda v: v["attention_mask"][:, 0])
    with pytest.raises(ValueError, match="no reference window shares"):
        closed_loop(dt, cfg, {"steer": lambda m: steer(m, "resid_post", torch.ones(16)), "bad": unmatched}, targets=[0.9], episodes=3)
    assert _no_hooks(dt)
    calls = []
    def interrupt(act, iv):
        calls.append(1)
        if len(calls) == 5: raise KeyboardInterrupt                          # Ctrl-C in the middle of a rollout
        return act
    with pytest.raises(KeyboardInterrupt):
        closed_loop(dt, cfg, {"ctrl-c": lambda m: Intervention(m, {"blocks.0.hook_resid_post": interrupt})}, targets=[0.9], episodes=3)
    assert _no_hooks(dt) and len(calls) == 5
    res = closed_loop(dt, cfg, {"zero z": lambda m: ablate(m, "z")}, targets=[0.9], episodes=4, n_boot=100)
    assert res.value("zero z", "success")["n"] == 4 and _no_hooks(dt)
