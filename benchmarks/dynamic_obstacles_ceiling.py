"""How high can a mean return go on MiniGrid-Dynamic-Obstacles-8x8-v0? Three policies that see the whole grid,
side by side on the same seeds:

- a greedy router: forward when the next cell on a shortest route is free, else turn toward the other useful
  direction (it never walks into a ball, so it never collides);
- the hindsight bound: the fewest steps to the goal without a collision when the balls' future moves are known. An
  episode is deterministic given its seed and the agent's actions (the balls move with the env's own generator), so
  an iterative-deepening search over the actions, on restored copies of the state, finds it. No policy that acts on
  what it sees now can beat it in expectation;
- a planner over sampled futures (hindsight optimisation, acting on the present): at every step it draws `--samples`
  futures (the same state with a fresh random generator, common to the three actions), finds the fewest steps to
  the goal in each by the same search, and takes the action whose mean is lowest. It knows the balls' rule of motion
  exactly and nothing of the real future: the strongest policy that acts on the present we measured.

The return of an episode of n steps is 1 - 0.9 n / 256; a mean of 0.95 needs n <= 14.2.

    .venv/bin/python benchmarks/dynamic_obstacles_ceiling.py [--episodes 300] [--planner-episodes 100] [--samples 8]
"""
import argparse, time

import gymnasium as gym
import minigrid  # noqa: F401  (registers the ids)
import numpy as np

DIRS = [(1, 0), (0, 1), (-1, 0), (0, -1)]          # MiniGrid's agent_dir: east, south, west, north


class Episode:
    "The unwrapped env with save/restore of everything a step changes (agent, grid, balls, random generator)."
    def __init__(self):
        self.env = gym.make("MiniGrid-Dynamic-Obstacles-8x8-v0"); self.u = self.env.unwrapped
        self.goal = (self.u.width - 2, self.u.height - 2)

    def save(self):
        u = self.u
        return (u.agent_pos, u.agent_dir, u.step_count, list(u.grid.grid), [b.cur_pos for b in u.obstacles],
                u.np_random.bit_generator.state)

    def load(self, s):
        u = self.u
        u.agent_pos, u.agent_dir, u.step_count = s[0], s[1], s[2]; u.grid.grid[:] = s[3]
        for b, p in zip(u.obstacles, s[4]): b.cur_pos = p
        u.np_random.bit_generator.state = s[5]

    def useful(self):
        (x, y), (gx, gy) = self.u.agent_pos, self.goal
        return [d for d, c in ((0, gx > x), (1, gy > y), (2, gx < x), (3, gy < y)) if c]

    def free(self, d):
        x, y = self.u.agent_pos
        c = self.u.grid.get(x + DIRS[d][0], y + DIRS[d][1])
        return c is None or c.type == "goal"

    def h(self):
        "Admissible: the Manhattan distance plus the turns the route still needs."
        (x, y), (gx, gy) = self.u.agent_pos, self.goal
        need = self.useful()
        return abs(gx - x) + abs(gy - y) + max(0, len(need) - (self.u.agent_dir in need))


def turn_to(d, k): return 1 if (k - d) % 4 == 1 else 0     # right (1) or left (0)


def greedy(ep: Episode) -> int:
    d, need = ep.u.agent_dir, ep.useful()
    if d in need and ep.free(d): return 2
    for k in need:
        if k != d and ep.free(k): return turn_to(d, k)
    return turn_to(d, need[-1] if d not in need or len(need) > 1 else (d + 1) % 4)


def run_greedy(ep: Episode, seed: int) -> float:
    ep.env.reset(seed=seed)
    while True:
        _, r, term, trunc, _ = ep.env.step(greedy(ep))
        if term or trunc: return float(r)


def fewest_steps(ep: Episode, cap: int = 60) -> int | None:
    "The fewest further steps to the goal without a collision, given the env's random generator as it is now (iterative deepening over the actions on restored copies); None past `cap`. The state is restored."
    u, root = ep.u, ep.save()

    def dfs(g, bound, seen):
        s = ep.save()
        for a in (2, 0, 1):
            ep.load(s)
            _, r, term, _, _ = u.step(a)
            if term:
                if r > 0: return g + 1
                continue
            if g + 1 + ep.h() > bound: continue
            key = (tuple(u.agent_pos), u.agent_dir, g + 1, tuple(tuple(b.cur_pos) for b in u.obstacles),
                   str(u.np_random.bit_generator.state["state"]))
            if key in seen: continue
            seen.add(key)
            if (found := dfs(g + 1, bound, seen)) is not None: return found
        return None

    try:
        for bound in range(ep.h(), cap + 1):
            ep.load(root)
            if (found := dfs(0, bound, set())) is not None: return found
        return None
    finally:
        ep.load(root)


def episode_return(ep: Episode, steps: int | None) -> float:
    return 0.0 if steps is None else 1 - 0.9 * steps / ep.u.max_steps


def hindsight(ep: Episode, seed: int, cap: int = 60) -> float:
    ep.env.reset(seed=seed)
    return episode_return(ep, fewest_steps(ep, cap))


def run_sampled_futures(ep: Episode, seed: int, samples: int = 8, rng_seed: int = 0) -> float:
    "An episode of the planner over sampled futures (see the module's docstring)."
    ep.env.reset(seed=seed)
    u, rng = ep.u, np.random.default_rng([rng_seed, seed])
    while True:
        u.gen_obs = lambda: None                      # planning needs the state, not the observation
        here = ep.save()
        futures = [np.random.PCG64(int(rng.integers(2 ** 63))).state for _ in range(samples)]
        cost = []
        for a in (0, 1, 2):
            total = 0.0
            for future in futures:
                ep.load(here); u.np_random.bit_generator.state = future
                _, r, term, _, _ = u.step(a)
                if term: total += 1 if r > 0 else 1e3   # a collision is never worth it
                else: total += 1 + (fewest_steps(ep, 40) or 1e3)
            cost.append(total / samples)
        ep.load(here); del u.gen_obs
        _, r, term, trunc, _ = ep.env.step(int(np.argmin(cost)))
        if term or trunc: return float(r)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument("--episodes", type=int, default=300, help="seeds 0.. for the greedy router and the hindsight bound")
    ap.add_argument("--planner-episodes", type=int, default=100, help="the first seeds for the sampled-futures planner (slow: ~1 s an episode)")
    ap.add_argument("--samples", type=int, default=8, help="futures the planner samples at each step")
    args = ap.parse_args()
    ep = Episode()
    rows = {}
    policies = (("greedy router (acts on the present)", run_greedy, args.episodes),
                (f"sampled futures x{args.samples} (acts on the present)",
                 lambda e, s: run_sampled_futures(e, s, args.samples), args.planner_episodes),
                ("hindsight bound (knows the future)", hindsight, args.episodes))
    for name, fn, n in policies:
        t = time.perf_counter()
        R = np.array([fn(ep, seed) for seed in range(n)])
        steps = (1 - R) * 256 / 0.9
        rows[name] = R
        print(f"{name:44s} {n:4d} seeds: mean return {R.mean():.4f} (95% CI ± {1.96 * R.std(ddof=1) / np.sqrt(n):.4f}), "
              f"{steps.mean():.2f} steps, collisions {(R < 0).mean():.3f}, {time.perf_counter() - t:.0f} s")
    greedy, planner, bound = rows.values()
    k = args.planner_episodes
    print(f"on the planner's {k} seeds: greedy {greedy[:k].mean():.4f}, sampled futures {planner.mean():.4f}, "
          f"hindsight {bound[:k].mean():.4f}; greedy / hindsight (all seeds) {greedy.mean() / bound.mean():.4f}; "
          f"the target mean 0.95 needs 14.2 steps")


if __name__ == "__main__":
    main()
