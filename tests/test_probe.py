"""Jacobian probe: batched equals per-image, chunking, centre crop/pad, input loading from nnU-Net's files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xtiny.family import add_width_family
from xtiny.nnunet.networks import build_planned_network
from xtiny.sensitivity.inputs import load_probe_inputs, read_centre, select_cases
from xtiny.sensitivity.probe import chunk_size_for, jacobian_norms, jacobian_norms_loop, jacobian_score


def test_read_centre_crops_and_pads():
    vol = np.arange(2 * 5 * 6 * 3, dtype=np.float32).reshape(2, 5, 6, 3)  # (C, Z, Y, X)
    img = read_centre(vol, [4, 5])  # 2d: centre slice z=2, Y cropped 6->4, X padded 3->5
    assert img.shape == (2, 4, 5)
    np.testing.assert_array_equal(img[:, :, 1:4], vol[:, 2, 1:5, :])
    assert np.all(img[:, :, 0] == 0) and np.all(img[:, :, 4] == 0)
    patch = read_centre(vol, [3, 8, 3])  # 3d: Z cropped 5->3, Y padded 6->8
    assert patch.shape == (2, 3, 8, 3)
    np.testing.assert_array_equal(patch[:, :, 1:7], vol[:, 1:4])


def test_select_cases_deterministic():
    ids = [f"c{i:02d}" for i in range(10)]
    assert select_cases(ids, 3) == ["c00", "c04", "c09"]
    assert select_cases(ids, 20) == ids


def test_batched_equals_loop(planned_cardiac):
    inputs = load_probe_inputs(planned_cardiac, "2d", k=4)
    assert inputs.images.shape == (4, 1, 64, 64) and len(inputs.case_ids) == 4
    add_width_family(planned_cardiac, "2d", caps=[8])
    net = build_planned_network(planned_cardiac, "2d_xtiny8", seed=0)
    batched = jacobian_norms(net, inputs.images, chunk_size=4)  # all four in one backward
    loop = jacobian_norms_loop(net, inputs.images)
    chunked = jacobian_norms(net, inputs.images, chunk_size=3)
    np.testing.assert_allclose(batched, loop, rtol=1e-5)
    np.testing.assert_allclose(chunked, loop, rtol=1e-5)
    assert np.all(batched > 0)
    # the probe freezes parameters and does not change weights
    before = {k: v.clone() for k, v in net.state_dict().items()}
    score = jacobian_score(net, inputs.images)
    assert score == pytest.approx(float(np.mean(batched)), rel=1e-6)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_scaled_profile_equals_the_meta_pass(planned_cardiac):
    from xtiny.meta_pass import meta_profile, scaled_profile
    from xtiny.nnunet.plans import configuration_dict, load_plans
    from xtiny.search import reduced_patch

    add_width_family(planned_cardiac, "2d", caps=[8])
    arch = configuration_dict(load_plans(planned_cardiac), "2d_xtiny8")["architecture"]["arch_kwargs"]
    net = build_planned_network(planned_cardiac, "2d_xtiny8", seed=0).eval()
    reduced = reduced_patch([64, 64], arch["strides"])
    assert reduced[0] < 64
    assert scaled_profile(net, (1, 64, 64), reduced) == meta_profile(net, (1, 64, 64))


def test_group_norm_swap_keeps_the_norms_of_the_as_built_loop(planned_cardiac):
    from xtiny.sensitivity.probe import swap_instance_norms

    inputs = load_probe_inputs(planned_cardiac, "2d", k=3)
    add_width_family(planned_cardiac, "2d", caps=[8])
    built = build_planned_network(planned_cardiac, "2d_xtiny8", seed=1)
    loop = jacobian_norms_loop(built, inputs.images)
    swapped = swap_instance_norms(build_planned_network(planned_cardiac, "2d_xtiny8", seed=1))
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in swapped.modules())
    assert sum(isinstance(m, torch.nn.GroupNorm) for m in swapped.modules()) == \
        sum(isinstance(m, torch.nn.InstanceNorm2d) for m in built.modules()) > 0
    np.testing.assert_allclose(jacobian_norms(swapped, inputs.images), loop, rtol=1e-4)


def test_cpu_chunk_is_one_image_per_thread_within_the_memory_budget(planned_cardiac):
    add_width_family(planned_cardiac, "2d", caps=[8])
    net = build_planned_network(planned_cardiac, "2d_xtiny8", seed=0)
    cpu = torch.device("cpu")
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        assert chunk_size_for(net, (1, 64, 64), cpu) == 3
        assert chunk_size_for(net, (1, 64, 64), cpu, budget_bytes=1.0) == 1  # memory still caps it
    finally:
        torch.set_num_threads(threads)
