"GridWorldEnv and the MiniGrid adapter against gymnasium's and SB3's checkers; layout errors name file and place."
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import midt  # registers midt/GridWorld-v0
from midt.envs.gridworld import GridWorldEnv
from midt.envs.layout import LayoutError, load_layout
from midt.envs.minigrid import MINIGRID_TASKS, make_minigrid
from midt.envs.oracle import optimal_return

MODES = ["symbolic", "symbolic_minimal", "pixels", "both"]

@pytest.mark.parametrize("layout", ["quickstart", "posner", "key_door_cue"])
@pytest.mark.parametrize("mode", MODES)
def test_gymnasium_and_sb3_checkers_pass(layout, mode):
    env = GridWorldEnv(layout, obs_mode=mode, max_steps=30, render_mode="rgb_array")
    gym_check_env(env, skip_render_check=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SB3 warns that small pixel images suit no CNN; that is not an error
        sb3_check_env(GridWorldEnv(layout, obs_mode=mode, max_steps=30), warn=True)

def test_unflattened_symbolic_passes_checkers():
    gym_check_env(GridWorldEnv("posner", flatten=False, max_steps=20))
    sb3_check_env(GridWorldEnv("posner", flatten=False, max_steps=20))

@pytest.mark.parametrize("task", MINIGRID_TASKS)
def test_minigrid_adapter_passes_checkers(task):
    gym_check_env(make_minigrid(task, view_size=5, max_steps=30))
    sb3_check_env(make_minigrid(task, view_size=5, max_steps=30))

def test_babyai_levels_are_minigrid_tasks_with_instructions(tmp_path):
    "A BabyAI id works wherever a MiniGrid id does: make_env, env_config, the checkers, the expert, a pipeline config."
    from stable_baselines3.common.env_util import make_vec_env
    from midt.envs.factory import env_config, is_minigrid, make_env
    from midt.envs.minigrid import MiniGridExpert
    from midt.utils.config import PipelineConfig, load_config
    cfg = env_config("BabyAI-GoToObj-v0", max_steps=40, view_size=5)
    assert is_minigrid("BabyAI-GoToObj-v0") and cfg["family"] == "minigrid"
    env = make_env(cfg)
    gym_check_env(env); sb3_check_env(make_env(cfg))
    _, info = env.reset(seed=3)
    assert info["mission"].startswith("go to the ")
    vec = make_vec_env(lambda: make_env(cfg), n_envs=1)
    expert = MiniGridExpert(vec)
    for seed in range(3):                                    # the planner reaches the object it is told to
        vec.seed(seed); vec.reset(); ret, done = 0.0, False
        while not done:
            _, r, d, _ = vec.step(expert(None)); ret += float(r[0]); done = bool(d[0])
        assert ret > 0.5
    (tmp_path/"b.yaml").write_text("dqn:\n  env_layout_path: BabyAI-GoToObj-v0\n  algorithm: expert\n  extra_episodes: 2\n")
    assert load_config(tmp_path/"b.yaml", PipelineConfig).dqn.env_layout_path == "BabyAI-GoToObj-v0"
    with pytest.raises(ValueError, match="BabyAI-GoToObj-v0"):      # a typo: the close ids are named
        make_env("BabyAI-GoToObjj-v0")

def test_gym_make_after_import_midt(repo):
    env = gym.make("midt/GridWorld-v0", layout=str(repo/"midt/layouts/posner.txt"), obs_mode="symbolic_minimal", max_steps=7)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    for t in range(7):
        obs, r, term, trunc, info = env.step(0)
    assert trunc and not term
    assert {"agent_pos", "held_key", "doors_open", "rewards_available", "room", "state_index"} <= set(info)

def test_the_seed_layout_files_load_unchanged(repo):
    "The seed's two layouts are shipped as they were written (text + companion JSON) and load from their files."
    for name in ["posner", "meister"]:
        layout = load_layout(repo/"midt/layouts"/f"{name}.txt")
        assert layout.name == name and (repo/"midt/layouts"/f"{name}.json").exists()
    assert optimal_return("meister", max_steps=500) > 9

def test_same_seed_same_episode():
    def run(seed):
        env = GridWorldEnv("key_door_cue", random_start=True, obs_mode="symbolic_minimal")
        obs, info = env.reset(seed=seed)
        rng = np.random.default_rng(seed); out = [obs]
        for _ in range(20):
            obs, *_ = env.step(int(rng.integers(4))); out.append(obs)
        return np.stack(out), info["cue"]
    a, b = run(3), run(3)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])

def test_state_index_is_unique_per_state():
    env = GridWorldEnv("posner", max_steps=200)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    seen = {}
    for _ in range(2000):
        _, _, term, trunc, info = env.step(int(rng.integers(4)))
        key = (tuple(info["agent_pos"]), info["held_key"], tuple(info["keys_present"]), tuple(info["doors_open"]),
               tuple(info["rewards_available"]))
        assert seen.setdefault(info["state_index"], key) == key
        if term or trunc: env.reset()
    assert max(seen) < env.num_states

def test_rgb_frames_stack_into_a_gif(tmp_path):
    import imageio.v3 as iio
    env = GridWorldEnv("posner", render_mode="rgb_array")
    env.reset(seed=0)
    frames = [env.render()] + [env.step(a)[0] is not None and env.render() for a in [1, 0, 3, 3, 0]]  # every action moves the agent
    assert len({f.shape for f in frames}) == 1 and frames[0].dtype == np.uint8
    assert not np.array_equal(frames[0], frames[-1])
    iio.imwrite(tmp_path/"ep.gif", np.stack(frames), duration=120, loop=0)
    assert iio.imread(tmp_path/"ep.gif").shape[0] == len(frames)

# ---- bad input: one test per case; each error names the file and the line/column or the JSON key ---------------

def _write(tmp_path, grid, config=None):
    p = tmp_path/"room.txt"; p.write_text(grid)
    if config is not None: (tmp_path/"room.json").write_text(config)
    return p

def _fails(p, *fragments):
    with pytest.raises(LayoutError) as e: load_layout(p)
    assert isinstance(e.value, ValueError)
    for f in (str(p),) + fragments: assert f in str(e.value), (f, str(e.value))

def test_non_rectangular(tmp_path): _fails(_write(tmp_path, "#####\n#S.G#\n###\n"), "line 3", "rectangular")
def test_unknown_character(tmp_path): _fails(_write(tmp_path, "#####\n#S.G#\n#.x.#\n#####"), "line 3, column 3", "'x'")
def test_no_start(tmp_path): _fails(_write(tmp_path, "#####\n#..G#\n#####"), "exactly one start", "none found")
def test_two_starts(tmp_path): _fails(_write(tmp_path, "#####\n#S.G#\n#S..#\n#####"), "line 2 column 2, line 3 column 2")
def test_unreachable_reward(tmp_path): _fails(_write(tmp_path, "######\n#S.#G#\n######"), "line 2, column 5", "no path")
def test_door_without_key(tmp_path): _fails(_write(tmp_path, "######\n#S.DG#\n######"), "line 2, column 4", "no key")

def test_json_names_a_cell_that_is_not_a_door(tmp_path):
    p = _write(tmp_path, "######\n#SrDG#\n######", '{"default_correct_keys": {"1,2": "red"}}')
    with pytest.raises(LayoutError) as e: load_layout(p)
    assert str(tmp_path/"room.json") in str(e.value) and "default_correct_keys['1,2']" in str(e.value)

def test_malformed_json(tmp_path):
    p = _write(tmp_path, "######\n#SrDG#\n######", '{"key_pairs": [}')
    with pytest.raises(LayoutError, match=r"room\.json: line 1, column 16: malformed JSON"): load_layout(p)

def test_malformed_json_after_separator_names_the_file_line(tmp_path):
    p = _write(tmp_path, "######\n#SrDG#\n######\n---\n{\n  \"reward_values\": {\"1,4\": 2,}\n}")
    with pytest.raises(LayoutError, match=r"room\.txt: line 6, column \d+: malformed JSON"): load_layout(p)

def test_unknown_obs_mode():
    with pytest.raises(ValueError, match="obs_mode 'rgb' is not one of symbolic, symbolic_minimal, pixels, both"):
        GridWorldEnv("quickstart", obs_mode="rgb")

@pytest.mark.parametrize("mode", ["symbolic", "symbolic_minimal"])
def test_in_place_observations_equal_a_fresh_write(mode):
    "Observations are updated in place for speed; along an oracle episode (keys, doors, rewards) plus random play,"
    "they must equal the observation written from scratch for the same state."
    from midt.envs.oracle import solve
    env = GridWorldEnv("posner", obs_mode=mode, max_steps=300)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = list(solve("posner").actions[:-1]) + rng.integers(0, 4, 200).tolist()
    write = env._write_symbolic if mode == "symbolic" else env._write_minimal
    for a in actions:
        obs, _, term, trunc, _ = env.step(a)
        fresh = np.empty_like(obs); write(fresh, env._state)
        assert np.array_equal(obs, fresh)
        if term or trunc: obs, _ = env.reset()


def test_minigrid_expert_looks_before_it_goes_and_earns_the_informed_optimum():
    "A Memory task's expert always sees the object before the end, and earns the best return of an agent that must look."
    from stable_baselines3.common.env_util import make_vec_env
    from midt.envs.minigrid import MiniGridExpert, _sees_cue, minigrid_optimum
    mem = make_minigrid("MiniGrid-MemoryS7-v0", view_size=3)
    vec = make_vec_env(lambda: make_minigrid("MiniGrid-MemoryS7-v0", view_size=3), n_envs=1)
    expert = MiniGridExpert(vec)
    extra = []
    for seed in range(10):
        informed, blind = minigrid_optimum(mem, seed, look_first=True)[0], minigrid_optimum(mem, seed)[0]
        vec.seed(seed); vec.reset(); u = vec.envs[0].unwrapped
        saw, ret, done = False, 0.0, False
        while not done:
            saw |= _sees_cue(u)
            _, r, d, _ = vec.step(expert(None)); ret += float(r[0]); done = bool(d[0])
        assert saw and ret == pytest.approx(informed, abs=1e-6) and informed <= blind
        extra.append(blind - informed)
    assert max(extra) > 0.01                               # looking back costs steps
    dk = make_minigrid("MiniGrid-DoorKey-5x5-v0")             # no cue: the expert is the optimal policy
    vec = make_vec_env(lambda: make_minigrid("MiniGrid-DoorKey-5x5-v0"), n_envs=1)
    expert = MiniGridExpert(vec)
    for seed in range(3):
        vec.seed(seed); vec.reset(); ret, done = 0.0, False
        while not done:
            _, r, d, _ = vec.step(expert(None)); ret += float(r[0]); done = bool(d[0])
        assert ret == pytest.approx(minigrid_optimum(dk, seed)[0], abs=1e-6)

    gd = make_minigrid("MiniGrid-GoToDoor-5x5-v0")         # the goal is in the mission, not the grid: one expert, many missions
    vec = make_vec_env(lambda: make_minigrid("MiniGrid-GoToDoor-5x5-v0"), n_envs=1)
    expert = MiniGridExpert(vec)
    doors = lambda u: [(x, y, c) for (x, y), c in ((divmod(i, u.width)[::-1], o) for i, o in enumerate(u.grid.grid))
                       if c is not None and c.type == "door"]
    for seed in range(6):
        for k in range(4):                                   # the same room four times, asked for each door in turn
            vec.seed(seed); vec.reset(); u = vec.envs[0].unwrapped
            x, y, door = doors(u)[k]
            u.target_pos, u.target_color, u.mission = (x, y), door.color, f"go to the {door.color} door"
            ret, done = 0.0, False
            while not done:
                _, r, d, _ = vec.step(expert(None)); ret += float(r[0]); done = bool(d[0])
            assert ret > 0, (seed, door.color)               # it went to the door asked for, not one planned before


def test_expert_data_run(tmp_path):
    "`algorithm: expert` records its episodes per epsilon through the normal CLI; bad uses fail in one line."
    import json, subprocess, sys
    from midt.data.storage import load_transitions
    from midt.utils.config import DQNConfig
    cfg = tmp_path/"expert.yaml"
    cfg.write_text("env_layout_path: MiniGrid-MemoryS7-v0\nalgorithm: expert\nview_size: 3\nmax_episode_steps: 60\n"
                   f"n_envs: 2\nextra_episodes: 6\nextra_epsilons: [0.0, 0.5]\nprogress_bar: false\noutput_dir: {tmp_path/'out'}\n")
    r = subprocess.run([sys.executable, "-m", "midt.scripts.train_dqn", "--config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    data = load_transitions(tmp_path/"out/data/transitions.h5")
    ids = set(data.episodes["policy_id"])
    assert ids == {"expert@eps0", "expert@eps0.5"} and data.num_episodes >= 12
    assert data.returns[data.episodes["policy_id"] == "expert@eps0"].min() > 0.8     # no noise: every episode solved
    assert json.loads((tmp_path/"out/summary.json").read_text())["sb3_num_timesteps"] == 0
    with pytest.raises(ValueError, match="extra_episodes > 0"):
        DQNConfig(env_layout_path="MiniGrid-MemoryS7-v0", algorithm="expert")
    grid = tmp_path/"grid.yaml"
    grid.write_text(f"env_layout_path: quickstart\nalgorithm: expert\nextra_episodes: 2\noutput_dir: {tmp_path/'g'}\n")
    r = subprocess.run([sys.executable, "-m", "midt.scripts.train_dqn", "--config", str(grid)], capture_output=True, text=True)
    assert r.returncode != 0 and "plans on MiniGrid tasks" in r.stderr and "algorithm" in r.stderr and len(r.stderr.strip().splitlines()) <= 2
    assert not (tmp_path/"g/data/transitions.h5").exists()
