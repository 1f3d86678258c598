"Two runs seeded alike are identical, also across processes."
import subprocess, sys

CODE = """
import torch, numpy as np
from midt.utils.seeding import set_seed
set_seed(123)
net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
x = torch.randn(32, 8) + float(np.random.rand())
print(net(x).sum().item(), torch.randint(0, 1000, (3,)).tolist())
"""

def test_two_seeded_processes_give_identical_tensors():
    outs = [subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout for _ in range(2)]
    assert outs[0] == outs[1] and outs[0].strip()

def test_different_seeds_differ():
    import torch
    from midt.utils.seeding import set_seed
    set_seed(1); a = torch.randn(5)
    set_seed(2); b = torch.randn(5)
    assert not torch.equal(a, b)
