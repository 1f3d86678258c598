"""How high can a mean return go on MiniGrid-Dynamic-Obstacles-8x8-v0? Two policies that see the whole grid, side by
side on the same seeds:

- a greedy router: forward when the next cell on a shortest route is free, else turn toward the other useful
  direction (it never walks into a ball, so it never collides);
- the hindsight bound: the fewest steps to the goal without a collision when the balls' future moves are known. An
  episode is deterministic given its seed and the agent's actions (the balls move with the env's own generator), so
  an iterative-deepening search over the actions, on restored copies of the state, finds it. No policy that acts on
  what it sees now can beat it in expectation.

The return of an episode of n steps is 1 - 0.9 n / 256; a mean of 0.95 needs n <= 14.2.

    .venv/bin/python benchmarks/dynamic_obstacles_ceiling.py [--episodes 300]
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


def hindsight(ep: Episode, seed: int, cap: int = 60) -> float:
    ep.env.reset(seed=seed)
    root = ep.save()

    def dfs(g, bound, seen):
        s = ep.save()
        for a in (2, 0, 1):
            ep.load(s)
            _, r, term, _, _ = ep.u.step(a)
            if term:
                if r > 0: return float(r)
                continue
            if g + 1 + ep.h() > bound: continue
            key = (tuple(ep.u.agent_pos), ep.u.agent_dir, g + 1, tuple(tuple(b.cur_pos) for b in ep.u.obstacles),
                   str(ep.u.np_random.bit_generator.state["state"]))
            if key in seen: continue
            seen.add(key)
            if (found := dfs(g + 1, bound, seen)) is not None: return found
        return None

    for bound in range(ep.h(), cap + 1):
        ep.load(root)
        if (found := dfs(0, bound, set())) is not None: return found
    return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=300)
    args = ap.parse_args()
    ep = Episode()
    rows = {}
    for name, fn in (("greedy router (acts on the present)", run_greedy), ("hindsight bound (knows the future)", hindsight)):
        t = time.perf_counter()
        R = np.array([fn(ep, seed) for seed in range(args.episodes)])
        steps = (1 - R) * 256 / 0.9
        rows[name] = R
        print(f"{name:38s} mean return {R.mean():.4f} (95% CI ± {1.96 * R.std(ddof=1) / np.sqrt(len(R)):.4f}), "
              f"{steps.mean():.2f} steps, collisions {(R < 0).mean():.3f}, {time.perf_counter() - t:.0f} s")
    a, b = rows.values()
    print(f"greedy / hindsight: {a.mean() / b.mean():.4f}; the target mean 0.95 needs 14.2 steps")


if __name__ == "__main__":
    main()
