"""Milestone crossing times against hand-computed crossings."""

import math

import torch

from sim.milestones import first_crossing

T = torch.float64


def test_linear_crossing_between_grid_points():
    years = torch.tensor([2020.0, 2021.0, 2022.0, 2023.0], dtype=T)
    series = torch.tensor([[0.0, 1.0, 2.0, 3.0], [5.0, 6.0, 7.0, 8.0], [0.0, 0.0, 0.0, 0.0]], dtype=T)
    got = first_crossing(years, series, torch.tensor([1.5, 5.0, 1.0], dtype=T))
    assert math.isclose(got[0].item(), 2021.5)
    assert got[1].item() == 2020.0  # already reached at the start
    assert math.isnan(got[2].item())  # never reached


def test_log_interpolation_for_exponential_series():
    years = torch.tensor([0.0, 1.0], dtype=T)
    series = torch.tensor([[1.0, 100.0]], dtype=T)
    got = first_crossing(years, series, 10.0, log=True)
    assert math.isclose(got.item(), 0.5, rel_tol=1e-12)  # 10 is halfway between 1 and 100 in log space


def test_crossing_is_differentiable_in_threshold():
    years = torch.tensor([0.0, 1.0, 2.0], dtype=T)
    series = torch.tensor([[0.0, 2.0, 4.0]], dtype=T)
    threshold = torch.tensor([3.0], dtype=T, requires_grad=True)
    (grad,) = torch.autograd.grad(first_crossing(years, series, threshold).sum(), threshold)
    assert math.isclose(grad.item(), 0.5)  # dt/dthreshold = 1 / slope
