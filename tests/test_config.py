"Bad configs give one clear error naming the file and the key; the shipped configs load and round-trip."
import pytest

from midt.utils.config import (ConfigError, DQNConfig, DTModelConfig, DTTrainConfig, InterpConfig, PipelineConfig,
                               load_config, save_config)

SHIPPED = [("configs/dqn/gridworld.yaml", DQNConfig), ("configs/dt/gridworld.yaml", DTTrainConfig),
           ("configs/dt/model.yaml", DTModelConfig), ("configs/interp/default.yaml", InterpConfig),
           ("configs/quickstart.yaml", PipelineConfig)]

@pytest.mark.parametrize("path,model", SHIPPED)
def test_shipped_configs_load_and_round_trip(repo, tmp_path, path, model):
    cfg = load_config(repo/path, model)
    assert load_config(save_config(cfg, tmp_path/"copy.yaml"), model) == cfg

def test_seed_defaults_are_kept(repo):
    m = load_config(repo/"configs/dt/model.yaml", DTModelConfig)
    assert (m.embed_dim, m.num_layers, m.num_heads, m.action_dim, m.state_dim) == (128, 3, 4, 4, None)
    t = load_config(repo/"configs/dt/gridworld.yaml", DTTrainConfig)
    assert (t.context_length, t.batch_size, t.max_steps, t.scheduler_type) == (20, 64, 50000, "cosine")

def _load(tmp_path, text, model=DQNConfig, **kw):
    p = tmp_path/"cfg.yaml"; p.write_text(text)
    with pytest.raises(ConfigError) as e: load_config(p, model, **kw)
    msg = str(e.value)
    assert str(p) in msg
    assert "Traceback" not in msg and "pydantic" not in msg.lower()
    return msg

def test_wrong_type(tmp_path):
    msg = _load(tmp_path, "env_layout_path: quickstart\ntotal_timesteps: lots\n")
    assert "key 'total_timesteps'" in msg and "'lots'" in msg

def test_missing_required_key(tmp_path):
    assert "key 'env_layout_path': required key is missing" in _load(tmp_path, "total_timesteps: 10\n")

def test_unknown_key(tmp_path):
    msg = _load(tmp_path, "env_layout_path: quickstart\nlearning_rat: 0.1\n")
    assert "key 'learning_rat': unknown key" in msg and "learning_rate" in msg  # valid keys are listed

def test_unknown_nested_key(tmp_path):
    msg = _load(tmp_path, "dqn: {env_layout_path: quickstart}\nmodel: {embed_dims: 64}\n", PipelineConfig)
    assert "key 'model.embed_dims'" in msg

def test_path_that_does_not_exist(tmp_path):
    msg = _load(tmp_path, "env_layout_path: layouts/nowhere.txt\n", check_paths=True)
    assert "key 'env_layout_path': path does not exist" in msg

def test_shipped_layout_name_is_a_valid_path(tmp_path):
    p = tmp_path/"c.yaml"; p.write_text("env_layout_path: posner\n")
    assert load_config(p, DQNConfig, check_paths=True).env_layout_path == "posner"

def test_invalid_yaml_names_line(tmp_path):
    assert "line 2, column" in _load(tmp_path, "env_layout_path: quickstart\n  seed: 3\n")

def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: config file not found"): load_config(tmp_path/"nope.yaml", DQNConfig)

def test_bad_choice_lists_valid_ones(tmp_path):
    msg = _load(tmp_path, "env_layout_path: quickstart\nalgorithm: sac\n")
    assert "key 'algorithm'" in msg and "'dqn'" in msg and "'ppo'" in msg

def test_device_auto_resolves_here():
    import torch
    from midt.utils.config import resolve_device
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
