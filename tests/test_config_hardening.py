"Hostile configs and layouts: every one is refused with a message naming the file and the key (or line/column); CLIs print one line and exit 2."
import os
import subprocess
import sys

import pytest

from midt.envs.layout import LayoutError, load_layout, parse_layout
from midt.utils.config import (ConfigError, DQNConfig, DTModelConfig, DTTrainConfig, EvalConfig, InterpConfig,
                               PipelineConfig, load_config, save_config)

def _refused(tmp_path, text, model=DQNConfig, name="cfg.yaml"):
    p = tmp_path/name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as e: load_config(p, model)
    assert str(p) in str(e.value)
    return str(e.value)

BASE = "env_layout_path: quickstart\n"

@pytest.mark.parametrize("line,key,says", [
    ("max_episode_steps: true", "max_episode_steps", "true/false is not a number"),
    ("learning_rate: true", "learning_rate", "true/false is not a number"),
    ("learning_rate: .inf", "learning_rate", "finite"),
    ("gamma: .nan", "gamma", "finite"),
    ("batch_size: 32.0", "batch_size", "expected an integer"),
    ("total_timesteps: '1000'", "total_timesteps", "valid integer"),
    ("snapshot_fractions: [2.0, -1]", "snapshot_fractions.0", "less than or equal to 1"),
    ("snapshot_fractions: [0.5, 0]", "snapshot_fractions.1", "greater than 0"),
    ("extra_epsilons: [5]", "extra_epsilons.0", "less than or equal to 1"),
    ("exploration_final_eps: -0.1", "exploration_final_eps", "greater than or equal to 0"),
    ("seed: -1", "seed", "greater than or equal to 0"),
    ("view_size: 6", "view_size", "odd"),
    ("run_name: ..", "run_name", "plain"),
    ("wandb_project: a/b", "wandb_project", "plain"),
    ("device: tpu", "device", "pattern"),
    ("output_dir: ''", "output_dir", "at least 1"),
])
def test_dqn_value_refused(tmp_path, line, key, says):
    msg = _refused(tmp_path, BASE + line + "\n")
    assert f"key '{key}'" in msg and says in msg, msg

@pytest.mark.parametrize("model,line,key", [
    (DTTrainConfig, "train_split: 1.5", "train_split"), (DTTrainConfig, "end_sample_prob: 2", "end_sample_prob"),
    (DTTrainConfig, "amp: 1", "amp"), (DTTrainConfig, "eval_target_returns: [.inf]", "eval_target_returns.0"),
    (DTTrainConfig, "run_name: ../x", "run_name"),
    (DTModelConfig, "dropout: 1.0", "dropout"), (DTModelConfig, "obs_shape: [8, 8]", "obs_shape"),
    (DTModelConfig, "state_dim: false", "state_dim"),
    (InterpConfig, "num_samples: 0", "num_samples"), (EvalConfig, "temperature: 0", "temperature"),
    (EvalConfig, "greedy: yes please", "greedy"),
])
def test_other_models_refuse(tmp_path, model, line, key):
    assert f"key '{key}'" in _refused(tmp_path, line + "\n", model)

def test_pipeline_run_name_cannot_leave_output_dir(tmp_path):
    for bad in ["..", ".", ".hidden", "a/b", "'/abs'"]:
        assert "key 'run_name'" in _refused(tmp_path, f"run_name: {bad}\ndqn: {{env_layout_path: quickstart}}\n", PipelineConfig)

def test_duplicate_key_names_both_lines(tmp_path):
    msg = _refused(tmp_path, BASE + "seed: 1\nlog_interval: 3\nseed: 2\n")
    assert "line 4, column 1" in msg and "duplicate key 'seed' (first written at line 2)" in msg

def test_duplicate_nested_key(tmp_path):
    msg = _refused(tmp_path, "dqn:\n  env_layout_path: quickstart\n  env_layout_path: posner\n", PipelineConfig)
    assert "line 3" in msg and "duplicate key 'env_layout_path'" in msg

@pytest.mark.parametrize("data", ["seed: 1\n".encode("utf-16"), b"env_layout_path: caf\xe9\n", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_not_utf8(tmp_path, data):
    assert "not UTF-8 text" in _refused(tmp_path, data)

def test_yaml_syntax_names_line_and_column(tmp_path):
    assert "line 2, column 8: not valid YAML: mapping values are not allowed here" in _refused(tmp_path, BASE + "seed: 1: 2\n")

def test_too_large_file(tmp_path):
    assert "at most" in _refused(tmp_path, BASE + "#" * (1 << 20) + "\n")

@pytest.mark.parametrize("model,key,hint", [(DQNConfig, "record_video", "no videos"), (DQNConfig, "video_fps", "no videos"),
                                            (DQNConfig, "video_freq", "no videos"), (InterpConfig, "probe_epochs", "scikit-learn"),
                                            (InterpConfig, "probe_lr", "scikit-learn"), (InterpConfig, "analyze_heads", "always analysed")])
def test_removed_keys_say_what_to_do(tmp_path, model, key, hint):
    msg = _refused(tmp_path, (BASE if model is DQNConfig else "") + f"{key}: 1\n", model)
    assert f"key '{key}' is no longer supported:" in msg and hint in msg

def test_wandb_fields_of_dt_training_stay():
    assert {"use_wandb", "wandb_project", "run_name"} <= set(DTTrainConfig.model_fields)

def test_scientific_notation_is_a_number(tmp_path):
    p = tmp_path/"c.yaml"; p.write_text(BASE + "learning_rate: 1e-4\nent_coef: 5E-3\n")
    cfg = load_config(p, DQNConfig)
    assert (cfg.learning_rate, cfg.ent_coef) == (1e-4, 5e-3)

def test_saved_config_has_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try: p = save_config(DQNConfig(env_layout_path="quickstart"), tmp_path/"config.yaml")
    finally: os.umask(old)
    assert p.stat().st_mode & 0o777 == 0o644

@pytest.mark.parametrize("path,model", [("configs/dqn/gridworld.yaml", DQNConfig), ("configs/dt/gridworld.yaml", DTTrainConfig),
    ("configs/dt/model.yaml", DTModelConfig), ("configs/interp/default.yaml", InterpConfig),
    ("configs/quickstart.yaml", PipelineConfig), ("configs/posner_cue.yaml", PipelineConfig)])
def test_shipped_configs_still_load(repo, path, model):
    load_config(repo/path, model)

# ---- layouts -----------------------------------------------------------------------------------------------------

GRID = "#######\n#SrDbG#\n#######\n"

@pytest.mark.parametrize("text,says", [
    ("#####\n#S..#\n#####", "no reward"),
    ("#######\n#S.DrG#\n#######", "line 2, column 6: no episode can collect this reward"),
    ("#########\n#r#S.DG.#\n#########", "no episode can collect"),                   # key walled off
    (GRID + '---\n{"reward_values": {"1,5": NaN}}', "not a finite number"),
    (GRID + '---\n{"reward_values": {"1,5": Infinity}}', "not a finite number"),
    (GRID + '---\n{"reward_values": {"1,5": 1e400}}', "finite"),
    (GRID + '---\n{"reward_values": {"1,5": "3"}}', "expected a number"),
    (GRID + '---\n{"cue_validity": true}', "JSON key 'cue_validity' (a probability): expected a number"),
    (GRID + '---\n{"cue_validity": 1.5}', "outside [0, 1]"),
    (GRID + '---\n{"reward_values": [1]}', "JSON key 'reward_values': expected an object"),
    (GRID + '---\n{"key_pairs": {"a": 1}}', "JSON key 'key_pairs': expected a list"),
    (GRID + '---\n{"protected_rewards": {"1,3": "1,5"}}', "expected a list of rewards"),
    (GRID + '---\n{"default_correct_keys": {"1,3": 2}}', "colour 2 is not one of 'red', 'blue'"),
    (GRID + '---\n{"default_correct_keys": {"1,3": "green"}}', "colour 'green'"),
    (GRID + '---\n{"reward_values": {"15": 1}}', "is not a string \"row,col\""),
    (GRID + '---\n{"protected_rewards": {"1,3": [15]}}', "is not a string \"row,col\""),
    (GRID + '---\n{"reward_values": {"9,9": 1}}', "outside the 3x7 grid"),
    (GRID + '---\n{"key_pairs": [{"positions": ["1,2", "1,4"], "room_id": true}]}', "room_id True"),
    (GRID + '---\n{"key_pairs": [{"positions": ["1,2", "1,4"], "rooom": 0}]}', "each pair is"),
    (GRID + '---\n{"rewards": {}}', "unknown key"),
    (GRID + '---\n[1, 2]', "must be a JSON object"),
    (GRID + '---\n{"reward_values": {"1,5": 1, "1,5": 2}}', "written twice"),
    ("#" * 300 + "\n#S" + "." * 297 + "G#\n" + "#" * 300, "at most 256x256"),
])
def test_bad_layouts_refused(text, says):
    with pytest.raises(LayoutError) as e: parse_layout(text, source="lay.txt")
    assert "lay.txt" in str(e.value) and says in str(e.value), str(e.value)

def test_reward_digits_too_large():
    with pytest.raises(LayoutError, match="larger than 1e"): parse_layout("#" * 24 + "\n#SR" + "9" * 20 + "#\n" + "#" * 24)

def test_companion_json_types(tmp_path):
    (tmp_path/"l.txt").write_text(GRID); (tmp_path/"l.json").write_text('{"reward_values": {"1,5": [3]}}')
    with pytest.raises(LayoutError, match=r"l\.json: JSON key reward_values\['1,5'\]: expected a number"): load_layout(tmp_path/"l.txt")

@pytest.mark.parametrize("data", [GRID.encode("utf-16"), b"\x00\xff\xfe\x89" * 100])
def test_binary_layout_file(tmp_path, data):
    (tmp_path/"l.txt").write_bytes(data)
    with pytest.raises(LayoutError, match=r"l\.txt: not a UTF-8 text layout"): load_layout(tmp_path/"l.txt")

def test_huge_layout_file_refused_before_reading(tmp_path):
    (tmp_path/"big.txt").write_text(("#" * 2000 + "\n") * 2000)
    with pytest.raises(LayoutError, match="at most"): load_layout(tmp_path/"big.txt")

def test_solvable_layouts_still_load():
    for name in ["quickstart", "posner", "meister", "key_door_cue"]: load_layout(name)
    assert parse_layout("#######\n#SrD.G#\n#######").rewards == ((1, 5),)

# ---- CLIs --------------------------------------------------------------------------------------------------------

def _cli(repo, script, *args):
    r = subprocess.run([sys.executable, "-m", f"midt.scripts.{script}", *map(str, args)], capture_output=True, text=True,
                       cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)}, timeout=120)
    return r.returncode, r.stderr

def test_cli_bad_inputs_one_line_exit_2(repo, tmp_path):
    (tmp_path/"l.txt").write_text("#######\n#S.DrG#\n#######\n")
    (tmp_path/"bin.txt").write_bytes(GRID.encode("utf-16"))
    (tmp_path/"m.yaml").write_text("embed_dim: 32\nnum_heads: 2\n")
    cases = [("train_dqn", b"env_layout_path: quickstart\nseed: \xff\n", "not UTF-8 text"),
             ("train_dqn", f"env_layout_path: {tmp_path/'l.txt'}\n".encode(), "key 'env_layout_path'"),
             ("train_dqn", f"env_layout_path: {tmp_path/'bin.txt'}\n".encode(), "not a UTF-8 text layout"),
             ("train_dqn", b"env_layout_path: nowhere.txt\n", "path does not exist"),
             ("train_dqn", b"env_layout_path: quickstart\nmax_episode_steps: true\n", "key 'max_episode_steps'"),
             ("train_dt", f"data_path: {tmp_path/'l.txt'}\n".encode(), "key 'data_path'"),
             ("train_dt", b"data_path: nowhere.h5\n", "path does not exist"),
             ("train_dt", b"seed: 1\nseed: 2\n", "duplicate key")]
    for script, text, says in cases:
        (tmp_path/"c.yaml").write_bytes(text)
        extra = ["--model-config", tmp_path/"m.yaml"] if script == "train_dt" else []
        rc, err = _cli(repo, script, "--config", tmp_path/"c.yaml", *extra)
        assert rc == 2 and "Traceback" not in err and err.startswith("error: ") and err.count("\n") == 1, (script, says, err)
        assert says in err, (says, err)
    rc, err = _cli(repo, "train_dqn", "--config", tmp_path/"c.yaml", "--seed", "x")
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
