"""Training-batch augmentation: mixup is one convex combination of inputs and labels, masks cover
what their settings say, gain and tilt add the dB offsets they claim, off is the identity and
draws nothing, options that make no sense are refused, and models still learn with them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from sklearn.metrics import roc_auc_score
from torch import nn

from autotag.data.normalize import Normalizer
from autotag.training.augment import Augment, Gain, Masks, Mixup, Tilt, build_augment
from autotag.training.losses import WeightedBCE
from autotag.training.module import TaggingModule
from tests.helpers import ROOT, mini_overrides, train_run

OFF = {
    "mixup": {"alpha": 0.0},
    "mask": {"time_masks": 0, "time_width": 0, "freq_masks": 0, "freq_width": 0},
    "gain": {"max_db": 0.0},
    "tilt": {"max_db": 0.0},
}


def preset(name: str) -> dict:
    """``conf/augment/<name>.yaml`` as the config composes it."""
    from tests.helpers import compose_train

    return OmegaConf.to_container(compose_train([f"augment={name}"]).augment)  # type: ignore[return-value]


def augment(seed: int = 0, **on: dict) -> Augment:
    return Augment(**{**OFF, **on}, seed=seed)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_the_presets_are_what_they_say():
    assert preset("none") == OFF  # the default: every option off
    assert preset("mixup_mask") == {**OFF, "mixup": preset("mixup")["mixup"]} | {
        "mask": preset("mask")["mask"]
    }
    for name in ("mixup", "mask", "mixup_mask", "gain_tilt"):
        assert Augment(**preset(name), seed=0).on
    assert not Augment(**preset("none"), seed=0).on


def test_mixup_is_one_convex_combination_of_inputs_and_labels():
    """Each output clip is recovered as lam x_i + (1 - lam) x_j from the inputs alone (the
    partner j by least squares over every clip); its labels are the same combination."""
    n, torch_rng = 24, torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, 10, generator=torch_rng)
    y = (torch.rand(n, 5, generator=torch_rng) < 0.4).float()
    mix = Mixup(alpha=1.0)
    out, target = mix(x, y, rng(3))
    xd, od = x.double().reshape(n, -1), out.double().reshape(n, -1)
    partners, lams = [], []
    for i in range(n):
        if torch.allclose(od[i], xd[i], atol=1e-6):  # its own partner (or lam = 1)
            partners.append(i)
            lams.append(1.0)
            assert torch.equal(target[i], y[i])
            continue
        fits = []
        for j in range(n):
            e, d = xd[i] - xd[j], od[i] - xd[j]
            lam = float(e @ d / (e @ e)) if j != i else float("nan")
            fits.append((float((d - lam * e).norm()) if j != i else math.inf, j, lam))
        res, j, lam = min(fits)
        assert res < 1e-5 and 0.0 <= lam <= 1.0
        partners.append(j)
        lams.append(lam)
        assert torch.allclose(
            target[i].double(), (lam * y[i] + (1 - lam) * y[j]).double(), atol=1e-6
        )
    assert sorted(partners) == list(range(n))  # the partners are a permutation of the batch
    drawn_lam, drawn_perm = mix.draw(rng(3), n)  # and they are what the option drew
    fixed = [i for i in range(n) if drawn_perm[i] == i]
    assert [p for i, p in enumerate(partners) if i not in fixed] == [
        p for i, p in enumerate(drawn_perm) if i not in fixed
    ]
    moved = [i for i in range(n) if i not in fixed]
    assert np.allclose(np.array(lams)[moved], drawn_lam[moved], atol=1e-5)


def test_mixup_lambdas_follow_beta_alpha_alpha():
    for alpha in (0.4, 2.0):
        lam, _ = Mixup(alpha).draw(rng(1), 40_000)
        assert abs(lam.mean() - 0.5) < 0.01  # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1))
        assert abs(lam.var() - 1 / (4 * (2 * alpha + 1))) < 0.005
    assert not Mixup(0.0).on
    with pytest.raises(ValueError, match=r"augment\.mixup\.alpha=-1"):
        Mixup(-1)


def _runs(start: np.ndarray, width: np.ndarray) -> set[int]:
    return {int(s) + k for s, w in zip(start, width, strict=True) for k in range(int(w))}


@pytest.mark.parametrize("settings", [(3, 10, 2, 6), (1, 500, 1, 100), (2, 12, 0, 8)])
def test_masks_cover_exactly_the_drawn_runs_within_their_bounds(settings):
    """A cell is masked iff its frame or its bin lies in one of the clip's drawn runs; every
    run is within the spectrogram and no wider than its setting; masked cells hold the batch
    mean. (500 frames and 100 bins are wider than the spectrogram: runs are cut to its size.)"""
    n_masks_t, width_t, n_masks_f, width_f = settings
    b, k, t = 64, 40, 100
    x = torch.randn(b, k, t, generator=torch.Generator().manual_seed(1))
    masks = Masks(*settings)
    out = masks(x, rng(7))
    d = masks.draw(rng(7), b, k, t)
    changed = out != x
    assert torch.allclose(out[changed], x.mean().expand(int(changed.sum())))
    for arr, count, width, length in (
        (d.time_width, n_masks_t, width_t, t),
        (d.freq_width, n_masks_f, width_f, k),
    ):
        effective = count if width else 0
        assert arr.shape == (b, effective) and ((0 <= arr) & (arr <= min(width, length))).all()
    assert (d.time_start + d.time_width <= t).all() and (d.time_start >= 0).all()
    assert (d.freq_start + d.freq_width <= k).all() and (d.freq_start >= 0).all()
    for i in range(b):
        frames = _runs(d.time_start[i], d.time_width[i])
        bins = _runs(d.freq_start[i], d.freq_width[i])
        expect = torch.zeros(k, t, dtype=torch.bool)
        expect[:, sorted(frames)] = True
        expect[sorted(bins), :] = True
        assert torch.equal(changed[i], expect), i
        assert int(changed[i].all(dim=0).sum()) == len(frames) or len(bins) == k
    if width_t == 10:  # widths are uniform on 0..width, both ends included
        assert set(d.time_width.ravel()) == set(range(11))


def test_masks_of_width_or_count_zero_mask_nothing():
    x = torch.randn(8, 12, 30)
    for settings in [(2, 0, 2, 0), (0, 10, 0, 5), (0, 0, 0, 0)]:
        assert not Masks(*settings).on
        a = augment(mask=dict(zip(OFF["mask"], settings, strict=True)))
        assert a.after_norm(x, x, (0, 0, 0))[0] is x
    masked = Masks(0, 0, 2, 3)(x, rng())  # frequency masks only: whole bins, never a frame alone
    changed = masked != x
    assert torch.equal(changed, changed.any(dim=-1, keepdim=True).expand_as(changed))


def test_gain_and_tilt_add_exactly_the_db_offsets_claimed():
    """out - x = g + s (k / (K - 1) - 1/2) per clip and band, the same for every frame, with g
    and s the drawn values within ± max_db."""
    b, k, t = 200, 40, 7
    x = torch.randn(b, k, t, dtype=torch.float64).float() * 10 - 40
    a = augment(seed=5, gain={"max_db": 6.0}, tilt={"max_db": 4.0})
    step = (0, 2, 9)
    out = a.before_norm(x, step)
    g = np.random.default_rng([5, 2, 0, 2, 9]).uniform(-6, 6, b)  # option index 2: gain
    s = np.random.default_rng([5, 3, 0, 2, 9]).uniform(-4, 4, b)  # option index 3: tilt
    band = np.arange(k) / (k - 1) - 0.5
    expect = g[:, None, None] + s[:, None, None] * band[None, :, None]
    assert np.allclose((out - x).double().numpy(), np.broadcast_to(expect, (b, k, t)), atol=1e-4)
    assert np.abs(g).max() <= 6 and np.abs(g).max() > 5.5 and np.abs(s).max() <= 4
    # the top band minus the bottom one is the drawn slope; the bands' mean offset is the gain
    diff = (out - x)[:, :, 0].double()
    assert np.allclose(diff[:, -1] - diff[:, 0], s, atol=1e-4)
    assert np.allclose(diff.mean(dim=1), g, atol=1e-4)
    # each option has its own stream: the gain alone draws the same gains
    alone = augment(seed=5, gain={"max_db": 6.0}).before_norm(x, step) - x
    assert np.allclose(alone[:, 0, 0].numpy(), g, atol=1e-4)
    assert torch.equal(Gain(0)(x, rng()), x) and torch.equal(Tilt(3)(x[:, :1], rng()), x[:, :1])


def test_off_is_the_identity_and_draws_no_random_number(monkeypatch):
    """With augment=none the module keeps no augmentation, and the container itself hands the
    batch back untouched without a generator made or any global stream moved."""
    off = Augment(**preset("none"), seed=0)
    assert not off.on
    module = TaggingModule(
        nn.Linear(1, 1), nn.Identity(), ["a"], {"name": "adam"}, {"name": "none"}
    )
    assert module.augment is None
    assert TaggingModule(
        nn.Linear(1, 1), nn.Identity(), ["a"], {}, {"name": "none"}, augment=off
    ).augment is None  # fmt: skip

    def no_generator(*a, **k):
        raise AssertionError("a generator was made")

    monkeypatch.setattr(np.random, "default_rng", no_generator)
    x, y = torch.randn(4, 8, 10), torch.ones(4, 3)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    assert off.before_norm(x, (0, 0, 0)) is x
    assert all(a is b for a, b in zip(off.after_norm(x, y, (0, 0, 0)), (x, y), strict=True))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.random.get_state()[1].tolist() == np_state[1].tolist()


def test_draws_depend_only_on_seed_option_rank_epoch_and_batch():
    x, y = torch.randn(16, 12, 30), torch.rand(16, 4)
    a, b = Augment(**preset("mixup_mask"), seed=0), Augment(**preset("mixup_mask"), seed=1)
    first = a.after_norm(x, y, (0, 3, 5))
    torch.manual_seed(123)  # the global stream plays no part
    assert all(torch.equal(u, v) for u, v in zip(first, a.after_norm(x, y, (0, 3, 5)), strict=True))
    for other in (
        a.after_norm(x, y, (0, 3, 6)),
        a.after_norm(x, y, (1, 3, 5)),
        b.after_norm(x, y, (0, 3, 5)),
    ):
        assert not torch.equal(first[0], other[0])
    # turning the masks on leaves mixup's draws as they were: the labels (which masks never touch) agree
    assert torch.equal(first[1], augment(mixup={"alpha": 0.4}).after_norm(x, y, (0, 3, 5))[1])


@pytest.mark.parametrize(
    ("on", "features", "message"),
    [
        ({"gain": {"max_db": 3}}, ("mel", "logc", "global"), r"augment\.gain\.max_db=3: .*compression=logc"),
        ({"tilt": {"max_db": 2}}, ("mfcc", "db", "global"), r"augment\.tilt\.max_db=2: .*kind=mfcc"),
        ({"gain": {"max_db": 3}}, ("mel", "db", "per_spec"), r"augment\.gain\.max_db=3: norm=per_spec removes"),
        ({"tilt": {"max_db": 2}}, ("stft", "db", "per_coeff"), r"augment\.tilt\.max_db=2: norm=per_coeff"),
        ({"mask": {**OFF["mask"], "time_masks": 1, "time_width": 5}}, ("waveform", "db", "none"), r"augment\.mask: .*kind=waveform"),
    ],
)  # fmt: skip
def test_options_the_features_or_normalization_make_meaningless_are_refused(on, features, message):
    with pytest.raises(ValueError, match=message):
        augment(**on).check(*features)


def test_the_group_and_its_blocks_take_exactly_their_keys_and_fit_checks_first(tmp_path):
    augment(gain={"max_db": 3}, tilt={"max_db": 2}).check("mel", "db", "global")  # accepted
    augment(tilt={"max_db": 2}).check("mel", "db", "per_spec")  # a slope survives per_spec
    with pytest.raises(
        ValueError, match=r"augment: takes exactly mixup, mask, gain, tilt; given mixup"
    ):
        build_augment({"mixup": {"alpha": 1}}, 0, "mel", "db", "global")
    with pytest.raises(ValueError, match=r"augment\.mixup: takes exactly alpha; given alpha, beta"):
        build_augment({**OFF, "mixup": {"alpha": 1, "beta": 2}}, 0, "mel", "db", "global")
    from autotag.training.run import fit
    from tests.helpers import compose_train

    cfg = compose_train(["augment=gain_tilt", "norm=per_spec", f"store.dir={tmp_path}"])
    with pytest.raises(ValueError, match=r"augment\.gain\.max_db=6: norm=per_spec"):
        fit(cfg, tmp_path / "run")  # before a store is built or the corpus generated
    assert not any(tmp_path.glob("*.h5"))


def test_weighted_bce_takes_soft_targets_as_the_formula_says():
    z, y = torch.randn(6, 4), torch.rand(6, 4)
    w = torch.tensor([1.0, 2.0, 5.0, 0.5])
    s = torch.sigmoid(z.double())
    expect = -(w * y * torch.log(s) + (1 - y) * torch.log(1 - s)).mean()
    assert torch.allclose(WeightedBCE(w)(z, y).double(), expect, atol=1e-6)


class BandNet(nn.Module):
    """Mean over time of each band, then a linear layer: enough for tags that are loud bands."""

    def __init__(self, n_bands: int, n_tags: int) -> None:
        super().__init__()
        self.out = nn.Linear(n_bands, n_tags)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(x.mean(dim=-1))


def _band_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tag c lifts bands 4c..4c+3 by 6 dB over noise around -40 dB."""
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, 4, generator=g) < 0.4).float()
    x = -40 + 4 * torch.randn(n, 16, 32, generator=g) + 6 * y.repeat_interleave(4, dim=1)[..., None]
    return x, y


@pytest.mark.parametrize("name", ["mixup", "mask", "mixup_mask", "gain_tilt"])
@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_a_tiny_model_still_learns_under_each_option(name):
    """Through TaggingModule.training_step: the loss falls and clean held-out clips are ranked."""
    torch.manual_seed(0)
    cfg = preset(name)
    cfg["mask"] = {**cfg["mask"], "time_width": min(cfg["mask"]["time_width"], 6)}  # 32 frames
    cfg["mask"]["freq_width"] = min(cfg["mask"]["freq_width"], 3)  # of 16 bands
    aug = Augment(**cfg, seed=0)
    norm = Normalizer("global", global_mean=-40.0, global_std=5.0, eps=1e-5, amin=1e-10)
    module = TaggingModule(BandNet(16, 4), norm, list("abcd"), {}, {"name": "none"}, augment=aug)
    assert module.augment is aug
    opt = torch.optim.Adam(module.parameters(), lr=0.05)
    x, y = _band_data(256, seed=1)
    losses = []
    for step in range(60):
        i = torch.randperm(256)[:32]
        loss = module.training_step((x[i], y[i]), step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10]), losses
    xt, yt = _band_data(200, seed=2)
    with torch.no_grad():
        scores = torch.sigmoid(module(xt))
    assert roc_auc_score(yt.numpy(), scores.numpy(), average="macro") > 0.95


def test_a_run_with_every_option_learns_and_keeps_plain_hparams(
    tmp_path, mini_mtat, mini_store_dir
):
    """run.py wires the group into training: the mini corpus is still learned with all four
    options on, and checkpoints hold the group as plain values (they load weights-only)."""
    extra = ["epochs=4", "optimizer.lr=3e-3", "augment=mixup_mask", "augment.mask.time_width=20"]
    extra += ["augment.mask.freq_width=4", "augment.gain.max_db=6", "augment.tilt.max_db=6"]
    res = train_run([*mini_overrides(mini_mtat, mini_store_dir), *extra], tmp_path)
    assert res["val"]["roc_auc"] > 0.8 and res["test"]["roc_auc"] > 0.75, res["history"]
    losses = [h["train_loss"] for h in res["history"]][1:]  # the first epoch's is logged later
    assert losses[-1] < losses[0], losses
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    saved = ckpt["hyper_parameters"]["config"]["augment"]
    assert saved == {**preset("mixup_mask"), "mask": {**preset("mask")["mask"], "time_width": 20, "freq_width": 4}, "gain": {"max_db": 6.0}, "tilt": {"max_db": 6.0}}  # fmt: skip
    assert "augment" not in ckpt["hyper_parameters"]  # the object is not saved, its config is
    assert (ROOT / "conf" / "augment" / "none.yaml").exists()


def test_the_augment_sweep_is_the_make_train_preset_on_a_tenth_of_the_labels():
    """sweep=augment_cpu: 5 rows x 3 seeds of the `make train` preset with 10% of the training
    labels, each row against augment=none."""
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("sweep", ["sweep=augment_cpu"], return_hydra_config=True)
    assert (cfg.loader.train_fraction, cfg.norm.mode, cfg.model.arch) == (0.1, "per_spec", "fcn")
    assert cfg.sweep.reference == "augment=none" and not Augment(**cfg.augment, seed=0).on
    params = dict(cfg.hydra.sweeper.params)
    assert params == {"augment": "none,mixup,mask,mixup_mask,variants", "seed": "0,1,2"}
    args = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    (jobs,) = BasicSweeper.split_arguments(args, None)
    assert len(jobs) == 15
    GlobalHydra.instance().clear()
