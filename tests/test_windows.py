"The one window builder: the dataset, the rollouts and the counterfactual pairs give the same windows for the same episode."
import numpy as np
import torch

from midt.data.dataset import DTDataset
from midt.data.storage import TransitionWriter, load_transitions
from midt.data.trajectory import Trajectory
from midt.envs.factory import env_config, make_env
from midt.evaluation.rollout import DTActor, rollout
from midt.interp.counterfactuals import counterfactual_pairs, replay
from midt.models.decision_transformer import DecisionTransformer
from midt.training.checkpoint import TrainedDT
from midt.utils.config import DTModelConfig

K, SCALE, TARGET = 4, 2.0, 0.6


class Recording(DTActor):
    "A DTActor that keeps every batched context it was given."
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw); self.seen = []
    def logits(self, ctx):
        self.seen.append({k: np.array(v) for k, v in ctx.items() if k != "raw_obs"})
        return super().logits(ctx)


def test_three_paths_give_the_same_windows(tmp_path):
    cfg = env_config("quickstart", obs_mode="symbolic", max_steps=40)   # longer than the rollout's history rows (2K + 8)
    env = make_env(cfg)
    S, A = int(np.prod(env.observation_space.shape)), int(env.action_space.n)
    torch.manual_seed(0)
    model = DecisionTransformer(DTModelConfig(embed_dim=16, num_layers=1, num_heads=2, dropout=0.0, max_timestep=64,
                                              state_dim=S, action_dim=A), K)
    dt = TrainedDT(model, rtg_scale=SCALE, env_config=cfg)                 # no normalisation: the file's statistics differ
    actor = Recording(dt)
    ep = rollout(actor, cfg, [TARGET], num_episodes=1, seed=7, temperature=2.0)[0]
    T = ep.length
    assert T > 2 * K + 8, T                                                # some padded, some full, and the history compacted
    from_rollout = {k: np.concatenate([s[k] for s in actor.seen]) for k in actor.seen[0]}   # one row per step

    # the counterfactual path: the episode replayed from its seed and actions
    rep = replay(cfg, ep.seed, ep.actions)
    rtg_env = TARGET - np.concatenate([[0.0], np.cumsum(rep["rewards"])[:-1]])
    from_replay = {k: v.numpy() for k, v in dt.windows(rep["obs"], ep.actions, rtg_env).items()}
    for k in from_rollout: np.testing.assert_array_equal(from_replay[k], from_rollout[k], err_msg=k)
    pairs = counterfactual_pairs(dt, cfg, [ep], "return", delta=-0.5)
    for k in from_rollout: np.testing.assert_array_equal(pairs.clean[k].numpy(), from_rollout[k][pairs.step], err_msg=k)

    # the dataset path: the same episode recorded in a file (its returns-to-go count from the episode's own return)
    with TransitionWriter(tmp_path/"one.h5", env_config=cfg) as w:
        w.add(Trajectory(rep["obs"].reshape(T, -1).astype(np.float32), np.asarray(ep.actions), rep["rewards"].astype(np.float32),
                         terminated=ep.terminated, attrs={"env_index": 0, "seed": ep.seed}))
    ds = DTDataset(load_transitions(tmp_path/"one.h5"), context_length=K, rtg_scale=SCALE, split="all", normalize_states=False)
    from_data = {k: v.numpy() for k, v in ds.gather(np.arange(T)).items()}
    for k in ("states", "timesteps", "attention_mask"): np.testing.assert_array_equal(from_data[k], from_rollout[k], err_msg=k)
    np.testing.assert_array_equal(from_data["actions"][:, :-1], from_rollout["actions"][:, :-1])
    assert from_data["actions"][:, -1].tolist() == ep.actions                # training sees the action it predicts ...
    assert (from_rollout["actions"][:, -1] == A).all()                       # ... acting does not know it yet
    shift = (TARGET - ep.total_return) / SCALE * from_data["attention_mask"][..., None]
    np.testing.assert_allclose(from_data["returns_to_go"] + shift, from_rollout["returns_to_go"], atol=1e-6)
