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
    _, batch = _full_windows(data)                           # the last step, where the answer is needed
    res = {(r["layer"], r["point"]): r for r in ProbingExperiment(model).probe_all_layers(batch, target="rtg", num_samples=None)}
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
    # the state token's own embedding is noise: the decision is written by layer 0 (attention moves the return in,
    # the MLP turns it into the action), never by the embedding
    assert abs(mean["embed"]) < 0.05 * total, mean
    assert mean["L0 attn"] + mean["L0 mlp"] > 0.9 * total, mean

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

# ---- the CLI on a real gridworld DT ------------------------------------------------------------------------------

import json, subprocess, sys

@pytest.fixture(scope="module")
def gridworld_dt(tmp_path_factory):
    from midt.agents.dqn_trainer import train_dqn
    from midt.training.trainer import train_dt
    from midt.utils.config import DQNConfig, DTModelConfig, DTTrainConfig
    out = tmp_path_factory.mktemp("grid")
    dqn = train_dqn(DQNConfig(env_layout_path="quickstart", obs_mode="symbolic_minimal", max_episode_steps=30, n_envs=2,
                              total_timesteps=2000, learning_starts=200, net_arch=[32], progress_bar=False, device="cpu",
                              seed=0), output_dir=str(out/"dqn"))
    dt = train_dt(DTTrainConfig(data_path=str(dqn.data_path), context_length=5, max_steps=100, warmup_steps=10,
                                eval_every=100, save_every=100, device="cpu"),
                  DTModelConfig(embed_dim=32, num_layers=2, num_heads=2, max_timestep=32), output_dir=str(out/"dt"), progress=False)
    return dt.best_path, dqn.data_path

def _run_interp(*args):
    return subprocess.run([sys.executable, "-m", "midt.scripts.run_interp", *map(str, args)], capture_output=True, text=True, timeout=300)

def test_run_interp_writes_json_and_plots(gridworld_dt, tmp_path):
    ckpt, data = gridworld_dt
    r = _run_interp("--checkpoint", ckpt, "--data-path", data, "--run-attention", "--run-probing", "--probe-target", "action",
                    "--probe-target", "agent_pos", "--num-samples", "400", "--output-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    heads = json.loads((tmp_path/"attention.json").read_text())["heads"]      # what the attention notebook writes
    assert len(heads) == 4 and all(abs(h["mass_rtg"] + h["mass_state"] + h["mass_action"] - 1) < 1e-4 for h in heads)
    probing = json.loads((tmp_path/"probing.json").read_text())
    assert max(p["score"] for p in probing["results"]["agent_pos"]) > 0.9   # the agent's position is in the symbolic observation
    assert "probes: action" in probing["summary_line"]
    for f in ["attention_modality.png", "attention_patterns.png", "probe_action.png", "probe_agent_pos.png"]:
        assert (tmp_path/f).stat().st_size > 5000, f

def test_run_interp_patching(gridworld_dt, tmp_path):
    ckpt, data = gridworld_dt
    r = _run_interp("--checkpoint", ckpt, "--data-path", data, "--run-patching", "--num-episodes", "4", "--output-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path/"patching.json").read_text())                # what the patching notebook writes
    assert set(res["points"]) == {"resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"}
    assert res["counterfactual"] == "return" and 0 < res["pairs"] <= 100 and res["delta"] < 0
    eff = np.array(res["points"]["resid_pre"])                              # [layers, 15 tokens]
    assert eff.shape == (2, 15) and np.isfinite(eff).all()
    assert np.abs(eff[0, 1::3]).max() < 1e-5                               # states are the same in both runs: no effect
    assert [h["head"] for h in res["heads"]] == ["L0H0", "L0H1", "L1H0", "L1H1"]
    assert (tmp_path/"patching.png").stat().st_size > 10_000 and (tmp_path/"patching_top.png").is_file()

def test_run_interp_bad_input(gridworld_dt, tmp_path):
    ckpt, data = gridworld_dt
    r = _run_interp("--checkpoint", ckpt, "--data-path", data, "--run-probing", "--probe-target", "colour", "--output-dir", tmp_path)
    assert r.returncode == 2 and "unknown probe target 'colour'; valid: action, rtg, timestep" in r.stderr
    r = _run_interp("--checkpoint", ckpt, "--data-path", data, "--run-probing", "--modality", "reward", "--output-dir", tmp_path)
    assert r.returncode == 2 and "not one of rtg, state, action" in r.stderr
    from midt.testing import toy_data
    other = toy_data("rtg", n_episodes=5, path=tmp_path/"toy.h5")                     # state size 4, not the gridworld's
    r = _run_interp("--checkpoint", ckpt, "--data-path", other.path, "--run-attention", "--output-dir", tmp_path)
    assert r.returncode == 2 and "does not fit" in r.stderr and "state_dim" in r.stderr
    assert not list(tmp_path.glob("*.json"))

# ---- patching: known answers -------------------------------------------------------------------------------------

def _rtg_pairs(model, data, n=64):
    "Clean: full windows of return-1 episodes; patch: the same windows asked for return 0."
    from midt.interp.patching import ActivationPatcher
    _, batch = _full_windows(data)
    keep = torch.nonzero(batch["returns_to_go"][:, 0, 0] > 0.5)[:n, 0]
    clean = {k: v[keep] for k, v in batch.items() if k in ("states", "actions", "returns_to_go", "timesteps", "attention_mask")}
    patch = {**clean, "returns_to_go": clean["returns_to_go"] - 1.0}
    return ActivationPatcher(model), clean, patch

def test_patching_the_rtg_token_moves_the_action_and_nothing_else_does(rtg_toy):
    model, data = rtg_toy
    pt, clean, patch = _rtg_pairs(model, data)
    eff = pt.compute_patching_effect(clean, patch, point="resid_pre")                 # [1, 15], normalised
    rtg_pos, other = list(range(0, 15, 3)), [i for i in range(15) if i % 3]
    assert (eff[0, rtg_pos] > 0.005).all(), eff                                         # each return token moves it a little
    assert eff[0, other].abs().max() < 1e-5                                            # states and actions: exactly nothing
    # the five return tokens say the same thing, so one alone barely flips the action; all of them together do
    from midt.interp.patching import logit_diff_metric
    m = logit_diff_metric(0, 1)
    with torch.no_grad(): m_clean, m_patch = m(model(**clean)).mean(), m(model(**patch)).mean()
    joint = m(pt.patch_hidden_states(clean, patch, layer=0, positions=rtg_pos, point="resid_pre")).mean()
    rest = m(pt.patch_hidden_states(clean, patch, layer=0, positions=other, point="resid_pre")).mean()
    assert (joint - m_clean) / (m_patch - m_clean) > 0.95
    assert abs(rest - m_clean) < 1e-5
    # patching all of resid_pre reproduces the patch run
    full = pt.patch_hidden_states(clean, patch, layer=0, positions=list(range(15)), point="resid_pre")
    with torch.no_grad(): torch.testing.assert_close(full, model(**patch), atol=1e-5, rtol=1e-5)
    assert _no_hooks(model)

def test_attribution_patching_tracks_exact_patching(rtg_toy):
    model, data = rtg_toy
    pt, clean, patch = _rtg_pairs(model, data)
    for point in ("resid_pre", "resid_mid"):
        exact = pt.compute_patching_effect(clean, patch, point=point).flatten()
        approx = pt.attribution_patching(clean, patch, point=point).flatten()
        r = np.corrcoef(exact.numpy(), approx.numpy())[0, 1]
        assert r > 0.8, (point, r)
    assert _no_hooks(model) and all(p.grad is None for p in model.parameters())

def test_head_patching_finds_the_head_that_reads_the_first_state(first_state_toy):
    from midt.interp.patching import ActivationPatcher
    model, data = first_state_toy
    _, batch = _full_windows(data)
    inp = {k: batch[k][:64] for k in ("states", "actions", "returns_to_go", "timesteps", "attention_mask")}
    flipped = {**inp, "states": inp["states"].clone()}
    flipped["states"][:, 0, 0] = -flipped["states"][:, 0, 0]                            # the other answer
    heads = ActivationPatcher(model).head_patching_effect(inp, flipped)                  # [layers, heads]
    pats = AttentionAnalyzer(model).get_attention_patterns(inp)[0, :, :, -2, 1].mean(0)  # last state -> first state
    assert int(heads[0].argmax()) == int(pats.argmax()) and heads[0].max() > 0.3, (heads, pats)

def test_policy_pairs_find_where_the_dt_reads_which_agent_acts(tmp_path):
    "Two agents, the same states: the last action names the agent, so only the context can give it away."
    from midt.interp.reports import patching_report, probing_report
    model, data = train_toy_dt("policy", steps=300, out_dir=tmp_path)
    rep = patching_report(model, data, "policy", num_pairs=48)
    pairs = rep.extra["pairs"]
    assert len(pairs) == 48 and pairs.changed_latents()["policy"] == 1.0
    clean, patch = model(**pairs.clean)[:, -1].argmax(-1), model(**pairs.patch)[:, -1].argmax(-1)
    assert (clean == pairs.clean["actions"][:, -1]).float().mean() > 0.95   # it knows which agent it is simulating ...
    assert (patch != clean).float().mean() > 0.95                            # ... and another agent's context flips it
    eff = {p: np.array(v) for p, v in rep.metrics["points"].items()}         # [layer, token] fraction restored
    assert abs(eff["resid_pre"][0, -2]) < 1e-6                               # the present state token: the same input
    assert eff["attn_out"][0, -2] > 0.9                                      # attention brings the agent to it
    assert rep.metrics["findings"]["patching: largest resid_pre cell (token type)"] == "action"
    best = probing_report(model, data, ["policy"], num_samples=400).metrics["best"][0]
    # a window at the first step has no past (1 in 5 here): 0.9 is the best a probe can do
    assert best["score"] > 0.85 and best["selectivity"] > 0.3
