"Known answers for the circuits read from the weights (midt.interp.circuits): planted heads are found, the RTG toy's scan moves as its task says."
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from midt.interp.circuits import (FactoredMatrix, _all_heads, composition_baseline, composition_scores, ov_circuit, ov_svd,
                                  plant_ov, plant_qk, qk_circuit, rtg_scan)
from midt.interp.reports import sample_windows
from midt.models.decision_transformer import DecisionTransformer
from midt.testing import train_toy_dt
from midt.training.checkpoint import TrainedDT
from midt.utils.config import DTModelConfig


def model(d=32, layers=2, heads=4, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = DTModelConfig(embed_dim=d, num_layers=layers, num_heads=heads, dropout=0.0, max_timestep=20, state_dim=6, **kw)
    return DecisionTransformer(cfg, context_length=4).eval()


def centred(v): return v - v.mean()


@pytest.mark.parametrize("layer,head,action", [(0, 3, 1), (1, 2, 3)])
def test_planted_rtg_head_is_found_by_its_ov_circuit_and_its_svd(layer, head, action):
    m = model()
    r, u = centred(m.W_E_rtg[0].detach()), centred(m.W_U[:, action].detach())
    plant_ov(m, layer, head, read=4 * r / r.norm(), write=4 * u / u.norm())
    ov = torch.stack([torch.stack([ov_circuit(m, l, h, source="rtg").AB[0] for h in range(4)]) for l in range(2)])
    assert np.unravel_index(int(ov.abs().argmax()), ov.shape) == (layer, head, action)
    assert ov[layer, head, action] > 0                                           # more return, more of that action
    s = ov_svd(m, layer, head)
    assert F.cosine_similarity(s["read"][:, 0], r, dim=0).abs() > 0.999        # the planted direction is the top one
    assert int(s["to_logits"][0].argmax()) == action
    assert s["S"][0] > 20 * s["S"][1]
    # the circuit is the materialised product of the same matrices
    E = m.W_E_rtg; ln1 = m.blocks[layer].ln1
    dense = ((E - E.mean(-1, keepdim=True)) * ln1.weight) @ m.W_V[layer, head] @ m.W_O[layer, head]
    dense = ((dense - dense.mean(-1, keepdim=True)) * m.ln_final.weight) @ m.W_U
    torch.testing.assert_close(ov_circuit(m, layer, head, "rtg").AB, dense, rtol=1e-4, atol=1e-6)


def test_planted_composing_heads_get_the_top_score_well_above_random():
    m = model(d=64)
    g = torch.Generator().manual_seed(1)
    w1, w2, a, k = (centred(torch.randn(64, generator=g)) for _ in range(4))
    plant_ov(m, 0, 2, read=a, write=w1); plant_qk(m, 1, 3, query=w1, key=k)        # Q-composition L0H2 -> L1H3
    plant_ov(m, 0, 1, read=a, write=w2); plant_ov(m, 1, 0, read=w2, write=k)        # V-composition L0H1 -> L1H0
    mean, std = composition_baseline(m)
    q, v = composition_scores(m, "q"), composition_scores(m, "v")
    assert np.unravel_index(int(q.argmax()), q.shape) == (0, 2, 1, 3)
    assert np.unravel_index(int(v.argmax()), v.shape) == (0, 1, 1, 0)
    assert q.max() > 0.9 and v.max() > 0.9 and mean < 0.3
    assert q.max() > mean + 20 * std and v.max() > mean + 20 * std
    # all pairs agree with the materialised definition
    ov, qk = _all_heads(m, "ov").AB, _all_heads(m, "q").AB                      # [layer, head, d, d]
    for h1 in range(4):
        for h2 in range(4):
            ref = (ov[0, h1] @ qk[1, h2]).norm() / (ov[0, h1].norm() * qk[1, h2].norm())
            torch.testing.assert_close(q[0, h1, 1, h2], ref, rtol=1e-4, atol=1e-6)


def test_qk_circuit_scores_match_the_forward_pass_without_layernorm_scale():
    m = model().double()
    x = torch.zeros(1, 6, dtype=torch.float64); x[0, 2] = 1.0                     # one state feature
    c = qk_circuit(m, 0, 1, query="state", key="action")
    Wq, Wk, ln = m.W_Q[0, 1], m.W_K[0, 1], m.blocks[0].ln1
    centre = lambda e: (e - e.mean(-1, keepdim=True)) * ln.weight
    expected = centre(x @ m.W_E_state) @ Wq @ (centre(m.W_E_action[:4]) @ Wk).T
    torch.testing.assert_close(c.AB[2:3], expected)


def test_pixel_models_say_there_is_no_state_matrix():
    m = model(obs_type="pixels", obs_shape=[8, 8, 3])
    with pytest.raises(ValueError, match="flat"): ov_circuit(m, 0, 0, source="state")
    assert ov_circuit(m, 0, 0, source="action").shape == (4, 4)
    from midt.interp.circuits import _head_figures, feature_source, plot_embeddings
    assert feature_source(m) == "time"                                           # the report shows time rows instead
    figs = _head_figures(TrainedDT(m), [(1, 1, 0.0)])
    assert set(figs) == {"circuits_ov", "circuits_qk", "circuits_svd"}
    assert "time" in plot_embeddings(m, max_timestep=5).axes[3].get_title()


def test_factored_matrix_never_needs_the_product_for_svd_and_norm():
    g = torch.Generator().manual_seed(0)
    A, B = torch.randn(3, 500, 8, generator=g, dtype=torch.float64), torch.randn(3, 8, 400, generator=g, dtype=torch.float64)
    fm = FactoredMatrix(A, B)
    U, S, V = fm.svd()
    torch.testing.assert_close(S, torch.linalg.svdvals(A @ B)[:, :8])
    torch.testing.assert_close(fm.norm(), torch.linalg.matrix_norm(A @ B))
    torch.testing.assert_close(U.transpose(-1, -2) @ U, torch.eye(8, dtype=torch.float64).expand(3, 8, 8))


@pytest.fixture(scope="module")
def rtg_toy(tmp_path_factory): return train_toy_dt("rtg", steps=200, out_dir=tmp_path_factory.mktemp("rtg"))


def test_rtg_scan_of_the_rtg_toy_moves_the_logits_monotonically(rtg_toy):
    toy, data = rtg_toy
    windows = sample_windows(toy, data, 400)
    last = windows["timesteps"][:, -1] == 4                                       # the decision step: action 0 iff R = 1
    contexts = {k: v[last] for k, v in windows.items()}
    returns = np.linspace(0, 1, 11)
    scan = rtg_scan(toy, contexts, returns)
    diff = (scan.logits[..., 0] - scan.logits[..., 1]).mean(1)                    # [return]
    assert diff[0] < 0 < diff[-1]
    assert (diff[1:] - diff[:-1] >= -1e-4).all(), diff                           # monotone in the target return
    p0 = scan.probs[..., 0].mean(1)
    assert p0[0] < 0.2 and p0[-1] > 0.8
    # the DLA explains the logits: components + biases = logits (final LayerNorm's scale frozen)
    from midt.interp.cache import dla_bias
    torch.testing.assert_close(scan.dla.sum(1) + dla_bias(toy), scan.logits, rtol=1e-4, atol=1e-4)
