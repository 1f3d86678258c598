"The mission token end to end: a task whose answer is only in the instruction, trained, saved, probed, patched."
import numpy as np
import pytest
import torch

from midt.data.dataset import DTDataset
from midt.data.windows import MISSION_UNK, encode_missions
from midt.evaluation.rollout import DTActor, rollout
from midt.interp.attention import AttentionAnalyzer
from midt.interp.cache import direct_logit_attribution, logit_lens
from midt.interp.patching import ActivationPatcher
from midt.interp.probing import ProbingExperiment
from midt.interp.reports import sample_windows
from midt.models.decision_transformer import DecisionTransformer
from midt.testing import TOY_MISSIONS, toy_data, train_toy_dt
from midt.training.checkpoint import TrainedDT
from midt.training.trainer import train_dt
from midt.utils.config import ConfigError, DTModelConfig, DTTrainConfig, PipelineConfig, load_config

@pytest.fixture(scope="module")
def mission_toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("m")
    model, data = train_toy_dt("mission", steps=300, mission=True, out_dir=out)
    return model, data, out/"checkpoints"/"last.pt"

@pytest.fixture(scope="module")
def blind_toy(tmp_path_factory): return train_toy_dt("mission", steps=300, mission=False, out_dir=tmp_path_factory.mktemp("b"))

def _last_steps(model, data):
    "Windows that end at each episode's last step (where only the mission gives the answer), as the model reads them."
    ds = DTDataset(data, context_length=5, split="all", with_latents=True,
                   mission_vocab=model.cfg.mission_vocab if model.cfg.mission else None)
    return ds.gather(np.flatnonzero(ds.timesteps == 4))

def _accuracy(model, batch) -> float:
    with torch.no_grad(): logits = model(**{k: v for k, v in batch.items() if not k.startswith(("latent_", "episode"))})
    return float((logits[:, -1].argmax(-1) == batch["actions"][:, -1]).float().mean())

def test_the_mission_token_carries_the_answer_and_without_it_the_dt_is_at_chance(mission_toy, blind_toy):
    (model, data, _), (blind, _) = mission_toy, blind_toy
    batch = _last_steps(model, data)
    assert model.n_prefix == 1 and model.cfg.mission_vocab == ["blue", "door", "go", "red", "the", "to"]
    assert _accuracy(model, batch) > 0.95
    assert abs(_accuracy(blind, _last_steps(blind, data)) - 0.5) < 0.15
    assert blind.n_prefix == 0 and "hook_embed_mission" not in blind.hook_dict

def test_a_mission_model_round_trips_through_its_checkpoint_and_save_pretrained(mission_toy, tmp_path):
    model, data, ckpt = mission_toy
    batch = _last_steps(model, data)
    dt = TrainedDT.load(ckpt)
    assert dt.cfg.mission and dt.cfg.mission_vocab == model.cfg.mission_vocab
    dt.save_pretrained(tmp_path/"m")
    again = TrainedDT.from_pretrained(tmp_path/"m")
    inputs = {k: v for k, v in batch.items() if not k.startswith(("latent_", "episode"))}
    with torch.no_grad(): torch.testing.assert_close(again.model(**inputs), model(**inputs))
    # an unknown word reads as UNK; a mission of unknown words still runs
    ids = encode_missions(["go to the green door"], model.cfg.mission_vocab)
    assert ids[0, 3] == MISSION_UNK

def test_positions_of_a_mission_model_in_cache_attention_patching(mission_toy):
    model, data, _ = mission_toy
    batch = _last_steps(model, data)
    inputs = {k: v[:8] for k, v in batch.items() if not k.startswith(("latent_", "episode"))}
    logits, cache = model.run_with_cache(**inputs)
    T = 3 * 5 + 1
    assert cache["hook_tokens"].shape[1] == T and cache["pattern", 0].shape[-1] == T
    final = model.ln_final(cache["resid_post", -1])[:, 1 + 1::3] @ model.W_U + model.b_U     # state tokens: 3t + 2
    torch.testing.assert_close(final, logits, atol=1e-5, rtol=1e-5)
    labels, lens = logit_lens(model, cache)
    torch.testing.assert_close(lens[-1], logits, atol=1e-5, rtol=1e-5)
    _, dla = direct_logit_attribution(model, cache)
    assert dla.shape[2] == 5
    an = AttentionAnalyzer(model)
    rows = an.analyze_head_specialization(inputs)
    for r in rows:                                             # the state queries' mass: R, s, a and the mission sum to 1
        assert abs(r["mass_rtg"] + r["mass_state"] + r["mass_action"] + r["mass_mission"] - 1) < 1e-4
    assert an.decompose_by_modality(an.get_attention_patterns(inputs)[0], inputs["attention_mask"]).shape == (2, 3, 3)
    # patching the mission token with the other mission's flips the decision; exact and suffix paths agree
    other = dict(inputs, mission=torch.from_numpy(encode_missions(
        [TOY_MISSIONS[1 - TOY_MISSIONS.index(m)] for m in _missions(model, inputs["mission"])], model.cfg.mission_vocab)))
    pt = ActivationPatcher(model)
    metric = lambda lg: lg[:, -1, 0] - lg[:, -1, 1]
    effect = pt.compute_patching_effect(inputs, other, metric, point="resid_pre", layers=[0])
    assert effect.shape == (1, T) and effect[0, 0] > 0.9            # all of it at the mission token, position 0
    assert effect[0, 1:].abs().max() < 0.1
    one = pt.patch_hidden_states(inputs, other, layer=0, positions=[0], point="resid_pre")
    torch.testing.assert_close(one, model(**other), atol=1e-4, rtol=1e-4)

def _missions(model, ids):
    words = ["<pad>", "<unk>"] + model.cfg.mission_vocab
    return [" ".join(words[i] for i in row if i) for row in ids.tolist()]

def test_mission_is_a_probe_target(mission_toy):
    model, data, ckpt = mission_toy
    batch = _last_steps(model, data)
    res = ProbingExperiment(model).probe_all_layers(batch, target="mission", num_samples=None)
    post = [r for r in res if r["point"] == "resid_post"][0]
    assert post["score"] > 0.95 and post["control"] < 0.75
    windows = sample_windows(TrainedDT.load(ckpt), data, 64, with_latents=True)
    assert windows["mission"].shape[0] == 64 and "latent_mission" in windows

def test_mission_settings_are_refused_where_there_is_no_mission(tmp_path):
    data = toy_data("rtg", n_episodes=10, path=tmp_path/"rtg.h5")
    tcfg = DTTrainConfig(data_path=data.path, context_length=5, max_steps=2, device="cpu", val_windows=8)
    with pytest.raises(ValueError, match="model.mission is true, but .* records no missions"):
        train_dt(tcfg, DTModelConfig(embed_dim=8, num_layers=1, num_heads=1, mission=True), output_dir=str(tmp_path/"o"),
                 data=data, progress=False)
    from midt.interp.reports import check_probe_targets
    with pytest.raises(ValueError, match="unknown probe target 'mission'"): check_probe_targets(["mission"], data)
    (tmp_path/"p.yaml").write_text("dqn:\n  env_layout_path: quickstart\nmodel:\n  mission: true\n")
    with pytest.raises(ConfigError, match="model.mission: true needs a MiniGrid or BabyAI task"):
        load_config(tmp_path/"p.yaml", PipelineConfig)

def test_rollouts_feed_the_envs_mission_to_a_mission_model():
    torch.manual_seed(0)
    model = DecisionTransformer(DTModelConfig(embed_dim=8, num_layers=1, num_heads=1, state_dim=7 * 7 * 20 + 4, action_dim=7,
                                              mission=True, mission_vocab=["blue", "door", "go", "red", "the", "to"]), 2)
    seen = []
    model.register_forward_pre_hook(lambda m, args, kwargs: seen.append(kwargs.get("mission")), with_kwargs=True)
    env = {"family": "minigrid", "env_id": "MiniGrid-GoToDoor-5x5-v0", "view_size": 7, "max_steps": 3}
    rollout(DTActor(model), env, [1.0], num_episodes=2, greedy=True)
    assert seen and all(s is not None and s.shape[0] in (1, 2) for s in seen)
    assert (seen[0][:, :3] == torch.tensor([4, 7, 6])).all()       # "go to the ..."

def test_run_interp_probes_the_mission(mission_toy, tmp_path):
    from midt.scripts.run_interp import main
    _, data, ckpt = mission_toy
    rc = main(["--checkpoint", str(ckpt), "--data-path", str(data.path), "--run-probing", "--probe-target", "mission",
               "--output-dir", str(tmp_path/"interp")])
    assert rc == 0
    assert (tmp_path/"interp"/"probe_mission.png").is_file()

def test_interventions_on_a_mission_model(mission_toy):
    from midt.interp.interventions import ablate, steering_vector
    model, data, _ = mission_toy
    batch = _last_steps(model, data)
    inputs = {k: v for k, v in batch.items() if not k.startswith(("latent_", "episode"))}
    red = inputs["mission"][:, 3] == model.cfg.mission_vocab.index("red") + 2
    plus, minus = ({k: v[m] for k, v in inputs.items()} for m in (red, ~red))
    vec = steering_vector(model, plus, minus, ("resid_mid", 0), positions=[-2])     # the last state token
    assert vec.shape == (model.cfg.embed_dim,)
    with ablate(model, "hook_embed_mission", "zero"):                 # no mission: the toy's answer is gone
        assert _accuracy(model, batch) < 0.8
    with ablate(model, "hook_embed_mission", "mean", reference=inputs):
        assert _accuracy(model, batch) < 0.8
    assert _accuracy(model, batch) > 0.95

def test_replayed_counterfactual_pairs_carry_each_episodes_mission():
    "Patching and interventions replay episodes: a mission model must read the episode's own instruction there too."
    from midt.interp.counterfactuals import counterfactual_pairs
    torch.manual_seed(0)
    vocab = ["blue", "door", "go", "green", "grey", "purple", "red", "the", "to", "yellow"]
    model = DecisionTransformer(DTModelConfig(embed_dim=8, num_layers=1, num_heads=1, state_dim=7 * 7 * 20 + 4, action_dim=7,
                                              mission=True, mission_vocab=vocab), 3)
    env = {"family": "minigrid", "env_id": "MiniGrid-GoToDoor-5x5-v0", "view_size": 7, "max_steps": 6}
    eps = rollout(DTActor(model), env, [1.0], num_episodes=3, seed=0)
    pairs = counterfactual_pairs(model, env, eps, "return", delta=-0.5)
    missions = set(_missions(model, pairs.clean["mission"]))
    assert len(missions) >= 2 and all(m.startswith("go to the ") and m.endswith(" door") for m in missions)
    assert torch.equal(pairs.clean["mission"], pairs.patch["mission"])          # a return pair keeps the instruction
    assert pairs.clean["mission"].shape[0] == len(pairs)
    with torch.no_grad(): model(**pairs.clean)                                   # the windows run as they are

def test_mission_pairs_put_the_whole_effect_at_the_mission_token(mission_toy, tmp_path):
    "counterfactual: mission — the same windows with another instruction; patching finds it all at position 0."
    from midt.interp.reports import patching_metric, patching_pairs
    model, data, ckpt = mission_toy
    dt = TrainedDT.load(ckpt)
    pairs, delta = patching_pairs(dt, data, "mission", num_pairs=64)
    assert delta is None and len(pairs) == 64 and pairs.kind == "mission"
    assert pairs.changed_latents() == {"mission": 1.0}
    assert (_missions(model, pairs.clean["mission"]) != np.array(_missions(model, pairs.patch["mission"]))).all()
    metric, _ = patching_metric(dt.model, pairs)
    effect = ActivationPatcher(dt.model).compute_patching_effect(pairs.clean, pairs.patch, metric, point="resid_pre", layers=[0])
    assert effect[0, 0] > 0.9 and effect[0, 1:].abs().max() < 0.1
    (tmp_path/"p.yaml").write_text("dqn:\n  env_layout_path: MiniGrid-GoToDoor-5x5-v0\ninterp:\n  counterfactual: mission\n")
    with pytest.raises(ConfigError, match="needs model.mission: true"):
        load_config(tmp_path/"p.yaml", PipelineConfig)
    (tmp_path/"p.yaml").write_text("dqn:\n  env_layout_path: BabyAI-GoToObj-v0\nmodel:\n  mission: true\ninterp:\n  counterfactual: mission\n")
    assert load_config(tmp_path/"p.yaml", PipelineConfig).interp.counterfactual == "mission"
