"""Inputs that fit by shape but not by meaning: another task's environment, a policy file that is a pickle, another net_arch
or another agent's, a counterfactual the data or checkpoint cannot make, validator errors without their key, YAML 1.1
numbers, and NaN in metrics. Each is one `error:` line naming the flag or key, exit status 2, nothing written."""
import json, os, subprocess, sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from midt.agents.dqn_trainer import build_algorithm, env_kwargs, save_policy, train_dqn
from midt.data.storage import TransitionWriter, load_transitions
from midt.envs.factory import env_config, make_env
from midt.scripts import evaluate, run_interp
from midt.testing import train_toy_dt
from midt.training.trainer import train_dt
from midt.utils.config import ConfigError, DQNConfig, DTModelConfig, DTTrainConfig, PipelineConfig, load_config
from midt.utils.io import write_json

ROOT = Path(__file__).resolve().parents[1]
DOORKEY = "MiniGrid-DoorKey-5x5-v0"


def _policy_file(cfg: DQNConfig, path: Path) -> Path:
    "An untrained SB3 policy of `cfg`, saved as train_dqn saves model.pt (a state_dict)."
    from stable_baselines3.common.env_util import make_vec_env
    return save_policy(build_algorithm(cfg, make_vec_env(lambda: make_env(cfg.env_layout_path, **env_kwargs(cfg)), n_envs=1)), path)


@pytest.fixture(scope="module")
def doorkey(tmp_path_factory):
    "DoorKey-5x5 episodes of the planner (two epsilons), a DT trained 2 steps on them, the same episodes labelled as a PPO's, policy files."
    out = tmp_path_factory.mktemp("doorkey")
    cfg = DQNConfig(env_layout_path=DOORKEY, algorithm="expert", max_episode_steps=50, n_envs=1, extra_episodes=2,
                    extra_epsilons=[0.0, 0.5], progress_bar=False, device="cpu", seed=0)
    run = train_dqn(cfg, output_dir=str(out/"dqn"))
    data = load_transitions(run.data_path)
    tcfg = DTTrainConfig(data_path=str(run.data_path), context_length=3, batch_size=8, max_steps=2, train_split=1.0,
                         warmup_steps=0, eval_every=2, save_every=2, log_every=2, val_windows=8, device="cpu", seed=0)
    dt = train_dt(tcfg, DTModelConfig(embed_dim=8, num_layers=1, num_heads=1, max_timestep=64, action_dim=7, dropout=0.0),
                  output_dir=str(out/"dt"), data=data, progress=False)
    ppo = cfg.model_copy(update={"algorithm": "ppo", "net_arch": [64, 64]})
    with TransitionWriter(out/"ppo_data.h5", env_config=data.env_config, collection_config=ppo.model_dump(mode="json")) as w:
        for i in range(data.num_episodes): w.add(data.episode(i))          # same episodes, same content hash
    bc = train_dt(tcfg, DTModelConfig(embed_dim=8, num_layers=1, num_heads=1, max_timestep=64, action_dim=7, dropout=0.0,
                                      condition_on_return=False), output_dir=str(out/"bc"), data=data, progress=False)
    return {"out": out, "data": run.data_path, "ppo_data": out/"ppo_data.h5", "ckpt": dt.best_path, "bc": bc.best_path,
            "ppo": _policy_file(ppo, out/"ppo.pt"),
            "ppo16": _policy_file(ppo.model_copy(update={"net_arch": [16]}), out/"ppo16.pt"),
            "dqn": _policy_file(ppo.model_copy(update={"algorithm": "dqn"}), out/"dqn.pt")}


def refused(rc, err, written, *needles):
    "exit 2, one `error:` line naming each needle, no traceback, nothing written at `written`"
    lines = [l for l in err.splitlines() if l.strip()]
    assert rc == 2, (rc, err)
    assert "Traceback" not in err and "weights_only" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for n in needles: assert n in lines[0], (n, lines[0])
    assert not Path(written).exists(), list(Path(written).iterdir())
    return lines[0]


def _evaluate(capsys, d, out, *extra, data="data"):
    rc = evaluate.main(["--checkpoint", str(d["ckpt"]), "--data-path", str(d[data]), "--target-returns", "0.5",
                        "--num-episodes", "1", "--output-dir", str(out), *map(str, extra)])
    return (rc, *capsys.readouterr())


# 1. another task's environment: same 984-dim state and 7 actions, so the checkpoint "fits"; refused unless asked

@pytest.mark.parametrize("env", ["MiniGrid-DoorKey-8x8-v0", "MiniGrid-MemoryS7-v0", "MiniGrid-GoToDoor-5x5-v0", "BabyAI-GoToObj-v0"])
def test_evaluate_refuses_another_task_of_the_same_shapes(doorkey, tmp_path, capsys, env):
    rc, _, err = _evaluate(capsys, doorkey, tmp_path/"out", "--env-layout", env)
    refused(rc, err, tmp_path/"out", f"--env-layout {env}", f"valid: {DOORKEY}", "--allow-other-env", "max_steps 50")


def test_evaluate_in_another_task_when_asked_records_the_env(doorkey, tmp_path, capsys):
    rc, out, err = _evaluate(capsys, doorkey, tmp_path/"other", "--env-layout", "MiniGrid-DoorKey-8x8-v0", "--allow-other-env")
    assert rc == 0, err
    assert "evaluating in MiniGrid-DoorKey-8x8-v0, not the data's MiniGrid-DoorKey-5x5-v0" in out and "max_steps 50" in out
    m = json.loads((tmp_path/"other"/"metrics.json").read_text())
    assert m["env_config"]["env_id"] == "MiniGrid-DoorKey-8x8-v0" and m["env_config"]["max_steps"] == 50 and m["other_env"]
    rc, _, err = _evaluate(capsys, doorkey, tmp_path/"own", "--env-layout", DOORKEY)          # its own task: accepted
    assert rc == 0, err
    m = json.loads((tmp_path/"own"/"metrics.json").read_text())
    assert m["env_config"] == load_transitions(doorkey["data"]).env_config and m["other_env"] is False


def test_evaluate_compares_gridworlds_by_their_grid_not_their_name(tmp_path):
    "A layout file with the quick-start grid is the quick-start task; another grid is another task."
    own = env_config("quickstart", obs_mode="symbolic", max_steps=30, random_start=True)
    copy = tmp_path/"mine.txt"; copy.write_text(own["layout_text"] + "\n")
    a = lambda layout, allow=False: SimpleNamespace(env_layout=layout, allow_other_env=allow, data_path=tmp_path/"d.h5")
    data, dt = SimpleNamespace(env_config=own), SimpleNamespace(env_config=own, path="best.pt")
    assert evaluate._check_env(a(str(copy)), data, dt) == own                    # the data's own options (random_start) kept
    with pytest.raises(ValueError, match="--env-layout posner: not the environment of .* valid: quickstart"):
        evaluate._check_env(a("posner"), data, dt)
    assert evaluate._check_env(a("posner", allow=True), data, dt)["layout_name"] == "posner"
    other = SimpleNamespace(env_config=env_config("posner"), path="other.pt")      # a checkpoint of another task
    with pytest.raises(ValueError, match="--checkpoint other.pt: trained in posner, not in quickstart"):
        evaluate._check_env(a(None), data, other)


@pytest.mark.parametrize("layout", ["", "  "])
def test_evaluate_refuses_an_empty_env_layout(doorkey, tmp_path, capsys, layout):
    rc, _, err = _evaluate(capsys, doorkey, tmp_path/"out", "--env-layout", layout)
    refused(rc, err, tmp_path/"out", "--env-layout is empty", "MiniGrid id")


# 2. --dqn-model: never unpickled, one line whatever the file holds

def test_evaluate_never_unpickles_a_dqn_model(doorkey, tmp_path):
    "The real CLI: a pickle whose loading would create a file is refused without running it, and torch's advice is not shown."
    marker = tmp_path/"pwned"

    class Evil:
        def __reduce__(self): return (open, (str(marker), "w"))
    torch.save({"policy": Evil()}, tmp_path/"evil.pt")
    (tmp_path/"cwd").mkdir()
    r = subprocess.run([sys.executable, "-m", "midt.scripts.evaluate", "--checkpoint", doorkey["ckpt"], "--data-path",
                        doorkey["ppo_data"], "--target-returns", "0.5", "--dqn-model", tmp_path/"evil.pt", "--output-dir",
                        tmp_path/"out"], cwd=tmp_path/"cwd", env={**os.environ, "PYTHONPATH": str(ROOT)},
                       capture_output=True, text=True, timeout=300)
    refused(r.returncode, r.stderr, tmp_path/"out", f"--dqn-model {tmp_path/'evil.pt'}: not a policy state_dict midt can read",
            "midt never unpickles")
    assert not marker.exists() and not any((tmp_path/"cwd").iterdir())


@pytest.mark.parametrize("kind", ["empty", "truncated", "a tensor", "a DT checkpoint", "a folder", "missing"])
def test_evaluate_refuses_dqn_models_that_are_no_policy(doorkey, tmp_path, capsys, kind):
    path = tmp_path/"model.pt"
    if kind == "empty": path.write_bytes(b"")
    if kind == "truncated": path.write_bytes(doorkey["ppo"].read_bytes()[:5000])
    if kind == "a tensor": torch.save(torch.zeros(3), path)
    if kind == "a DT checkpoint": path = doorkey["ckpt"]
    if kind == "a folder": path.mkdir()
    rc, _, err = _evaluate(capsys, doorkey, tmp_path/"out", "--dqn-model", path, data="ppo_data")
    line = refused(rc, err, tmp_path/"out", f"--dqn-model {path}")
    assert ("not a policy state_dict" in line) if kind not in ("a folder", "missing") else ("folder" in line or "not found" in line)


@pytest.mark.parametrize("policy,needle", [("ppo16", "mlp_extractor.policy_net.0.weight [16, 984] (needed: [64, 984])"),
                                           ("dqn", "missing mlp_extractor.policy_net.0.weight")])
def test_evaluate_refuses_a_dqn_model_of_another_net_arch_or_algorithm(doorkey, tmp_path, capsys, policy, needle):
    rc, _, err = _evaluate(capsys, doorkey, tmp_path/"out", "--dqn-model", doorkey[policy], data="ppo_data")
    line = refused(rc, err, tmp_path/"out", f"--dqn-model {doorkey[policy]}: its net_arch does not match the data's",
                   "a ppo policy with net_arch [64, 64]", needle)
    assert len(line) < 600                                   # not torch's kilobytes of size mismatches


def test_evaluate_compares_with_the_data_policy(doorkey, tmp_path, capsys):
    rc, out, err = _evaluate(capsys, doorkey, tmp_path/"out", "--dqn-model", doorkey["ppo"], data="ppo_data")
    assert rc == 0, err
    assert "| PPO (data policy) | 0.500 |" in out


# 3. data recorded by the planner: there is no policy file to compare with

def test_evaluate_refuses_a_dqn_model_for_the_planners_data(doorkey, tmp_path, capsys):
    rc, out, err = _evaluate(capsys, doorkey, tmp_path/"out", "--dqn-model", doorkey["ppo"])
    refused(rc, err, tmp_path/"out", "the data's agent is 'expert' (a planner): it has no policy file for --dqn-model")
    assert "EXPERT (data policy)" not in out


# 4., 5. run_interp --run-patching: the counterfactual must fit the data and the checkpoint, before any work

@pytest.fixture(scope="module")
def blind_mission(tmp_path_factory):
    "A DT without the mission token, trained briefly on the toy task whose episodes carry two missions."
    out = tmp_path_factory.mktemp("blind")
    _, data = train_toy_dt("mission", steps=20, mission=False, out_dir=out)
    return {"ckpt": out/"checkpoints"/"last.pt", "data": data.path}


def _interp(capsys, tmp_path, ckpt, data, yaml_text, *extra):
    (tmp_path/"interp.yaml").write_text(yaml_text)
    rc = run_interp.main(["--config", str(tmp_path/"interp.yaml"), "--checkpoint", str(ckpt), "--data-path", str(data),
                          "--output-dir", str(tmp_path/"out"), *extra])
    return (rc, *capsys.readouterr())


@pytest.mark.parametrize("how", [["--run-patching"], []])
def test_run_interp_refuses_mission_pairs_for_a_checkpoint_without_the_mission_token(blind_mission, tmp_path, capsys, how):
    cfg = "counterfactual: mission\n" + ("" if how else "run_patching: true\n")
    rc, _, err = _interp(capsys, tmp_path, blind_mission["ckpt"], blind_mission["data"], cfg, *how)
    refused(rc, err, tmp_path/"out", "counterfactual 'mission'", "has no mission token", "model.mission",
            "valid for this data and checkpoint: return")


@pytest.mark.parametrize("kind,needles", [
    ("cue", ["counterfactual 'cue'", "MiniGrid Memory task", f"{DOORKEY} is neither"]),
    ("held_key", ["counterfactual 'held_key'", "midt gridworld", "minigrid environment"]),
    ("mission", ["counterfactual 'mission'", "record 1 mission(s)"])])
def test_run_interp_names_the_counterfactuals_that_work_for_minigrid_data(doorkey, tmp_path, capsys, kind, needles):
    rc, _, err = _interp(capsys, tmp_path, doorkey["ckpt"], doorkey["data"], f"counterfactual: {kind}\n", "--run-patching")
    line = refused(rc, err, tmp_path/"out", *needles, "valid for this data and checkpoint: return, policy, epsilon")
    assert "use counterfactual 'return'" not in line


def test_run_interp_refuses_return_pairs_for_a_return_blind_checkpoint(doorkey, tmp_path, capsys):
    rc, _, err = _interp(capsys, tmp_path, doorkey["bc"], doorkey["data"], "counterfactual: return\n", "--run-patching")
    refused(rc, err, tmp_path/"out", "counterfactual 'return'", "model.condition_on_return: false",
            "valid for this data and checkpoint: policy, epsilon")


def test_a_minigrid_memory_task_makes_cue_pairs(tmp_path):
    from midt.interp.reports import check_gridworld, counterfactuals_for
    cfg = DQNConfig(env_layout_path="MiniGrid-MemoryS7-v0", algorithm="expert", view_size=5, max_episode_steps=60, n_envs=1,
                    extra_episodes=1, extra_epsilons=[0.0], progress_bar=False, device="cpu", seed=0)
    data = load_transitions(train_dqn(cfg, output_dir=str(tmp_path/"dqn")).data_path)
    assert counterfactuals_for(data) == ["return", "cue"]
    check_gridworld(data, "cue")
    with pytest.raises(ValueError, match="counterfactual 'policy': its episodes record 1 policy_id value"): check_gridworld(data, "policy")


# 6. a model validator names the key it is about, not `<top level>`

@pytest.mark.parametrize("text,key", [
    ("dqn:\n  env_layout_path: quickstart\nmodel:\n  mission: true\n", "model.mission"),
    (f"dqn:\n  env_layout_path: {DOORKEY}\ninterp:\n  counterfactual: mission\n", "interp.counterfactual"),
    (f"dqn:\n  env_layout_path: {DOORKEY}\n  algorithm: expert\n", "dqn.extra_episodes")])
def test_validator_errors_name_the_real_key(tmp_path, text, key):
    (tmp_path/"p.yaml").write_text(text)
    with pytest.raises(ConfigError) as e: load_config(tmp_path/"p.yaml", PipelineConfig)
    assert f"key '{key}': " in str(e.value) and "<top level>" not in str(e.value)
    (tmp_path/"d.yaml").write_text(f"env_layout_path: {DOORKEY}\nalgorithm: expert\n")     # the config on its own
    with pytest.raises(ConfigError, match="key 'extra_episodes': algorithm 'expert' trains nothing"): load_config(tmp_path/"d.yaml", DQNConfig)


# 7. YAML 1.1 base-60 and octal numbers are not silently read as 90 and 8

@pytest.mark.parametrize("value,meant", [("1:30", "base-60 number 90"), ("1:30:00", "base-60 number 5400"),
                                         ("-1:30", "base-60 number -90"), ("010", "octal number 8")])
def test_yaml_11_numbers_are_refused_naming_the_key(tmp_path, value, meant):
    (tmp_path/"p.yaml").write_text(f"dqn:\n  env_layout_path: quickstart\n  max_episode_steps: {value}\n  learning_rate: 1:30.5\n")
    with pytest.raises(ConfigError) as e: load_config(tmp_path/"p.yaml", PipelineConfig)
    msg = str(e.value)
    assert f"key 'dqn.max_episode_steps': expected an integer, got '{value}' (YAML 1.1 would read it as the {meant}" in msg
    assert "key 'dqn.learning_rate': expected a number, got '1:30.5'" in msg
    (tmp_path/"p.yaml").write_text("dqn:\n  env_layout_path: quickstart\n  max_episode_steps: 0x20\n  output_dir: 1:30\n")
    cfg = load_config(tmp_path/"p.yaml", PipelineConfig)                 # hex is unambiguous; a path stays what was written
    assert (cfg.dqn.max_episode_steps, cfg.dqn.output_dir) == (32, "1:30")


def test_run_interp_refuses_a_base_60_number_in_its_config(doorkey, tmp_path, capsys):
    rc, _, err = _interp(capsys, tmp_path, doorkey["ckpt"], doorkey["data"], "num_samples: 1:30\n", "--run-attention")
    refused(rc, err, tmp_path/"out", "interp.yaml", "key 'num_samples'", "'1:30'", "base-60")


# 8. metrics are valid JSON: NaN and infinities are null, and the readers of the metrics take null

def _strict_json(path: Path):
    def no_constant(c): raise AssertionError(f"{path} holds a bare {c}: not valid JSON")
    return json.loads(path.read_text(), parse_constant=no_constant)


def test_write_json_writes_null_for_nan_and_infinity(tmp_path):
    write_json(tmp_path/"m.json", {"rho": float("nan"), "a": np.array([np.inf, 1.0]), "f": np.float32("nan"), "t": (-np.inf,),
                                   "ok": np.float64(0.5)})
    assert _strict_json(tmp_path/"m.json") == {"rho": None, "a": [None, 1.0], "f": None, "t": [None], "ok": 0.5}


def test_reports_save_valid_json_when_a_metric_is_nan(tmp_path):
    "A correlation over constant effects is NaN (e.g. attribution_r): the report's JSON holds null there."
    from midt.interp.reports import Report
    path = Report({"attribution_r": {"resid_pre": float("nan"), "resid_mid": float("inf")}, "n": 2}).save(tmp_path/"out", "patching.json")
    assert _strict_json(path) == {"attribution_r": {"resid_pre": None, "resid_mid": None}, "n": 2}
