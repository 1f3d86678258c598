"""A real collection for the SIGKILL test: SB3 DQN on the quick-start layout with the transition recorder.

Prints `EPISODE <env_index> <global_step> <wall time>` the moment each episode is handed to the writer, so the test
knows which episodes had finished when it killed this process. Usage: collect_and_log.py OUT.h5 FLUSH_INTERVAL SEED"""
import sys, time

from stable_baselines3 import DQN
from stable_baselines3.common.env_util import make_vec_env

from midt.agents.callbacks import TransitionRecorderCallback
from midt.data.storage import TransitionWriter
from midt.envs.gridworld import GridWorldEnv

out, flush_interval, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])

class LoggingWriter(TransitionWriter):
    def add(self, traj):
        super().add(traj)
        print(f"EPISODE {traj.attrs['env_index']} {traj.attrs['global_step']} {time.time():.6f}", flush=True)

vec = make_vec_env(lambda: GridWorldEnv("quickstart", obs_mode="symbolic_minimal", max_steps=15), n_envs=2, seed=seed)
writer = LoggingWriter(out, env_config={"action_dim": 4}, flush_interval=flush_interval)
model = DQN("MlpPolicy", vec, learning_starts=200, seed=seed, policy_kwargs={"net_arch": [32]}, train_freq=1)
print("START", flush=True)
model.learn(10**7, callback=TransitionRecorderCallback(writer, seed=seed))
