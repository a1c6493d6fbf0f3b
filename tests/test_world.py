"""Pack/unpack round trips and derivative arithmetic on nested worlds."""

from dataclasses import dataclass, field

import torch

from sim.world import StateDerivative, TensorDataclass, World, metric_field, state_field


@dataclass
class Leaf(TensorDataclass):
    a: torch.Tensor = state_field()
    m: torch.Tensor = metric_field()
    b: torch.Tensor = state_field()


@dataclass
class Node(TensorDataclass):
    x: torch.Tensor = state_field()
    leaves: dict = field(default_factory=dict)
    child: Leaf = field(default_factory=Leaf)


def make(B=4):
    r = lambda: torch.randn(B, dtype=torch.float64)  # noqa: E731
    return Node(x=r(), leaves={"z": Leaf(a=r(), m=r(), b=r()), "a": Leaf(a=r(), m=r(), b=r())},
                child=Leaf(a=r(), m=r(), b=r()))


def test_round_trip_nested_is_identity_and_order_stable():
    node = make()
    y = node.to_state_tensor()
    assert y.shape == (4, 7)
    assert node.state_names() == ["x", "leaves.a.a", "leaves.a.b", "leaves.z.a", "leaves.z.b", "child.a", "child.b"]
    back = node.from_state_tensor(y)
    assert torch.equal(back.to_state_tensor(), y)
    assert torch.equal(back.leaves["z"].b, node.leaves["z"].b)
    # metrics are not part of the state and are carried over
    assert torch.equal(back.child.m, node.child.m)


def test_from_state_tensor_puts_each_column_in_its_field():
    node = make()
    y = torch.arange(7, dtype=torch.float64).expand(4, 7).clone()
    back = node.from_state_tensor(y)
    assert torch.all(back.x == 0) and torch.all(back.leaves["a"].a == 1) and torch.all(back.child.b == 6)


def test_zeros_and_add():
    node = make()
    zero = node.zeros()
    assert torch.count_nonzero(zero.to_state_tensor()) == 0
    assert zero.child.m is None
    total = node + node
    assert torch.allclose(total.to_state_tensor(), 2 * node.to_state_tensor())


def test_wrong_width_is_an_error():
    node = make()
    try:
        node.from_state_tensor(torch.zeros(4, 5, dtype=torch.float64))
    except ValueError as err:
        assert "columns" in str(err)
    else:
        raise AssertionError("expected ValueError")


def test_world_has_standard_actors_and_derivative_wrapper():
    world = World.empty(3, 2012.0)
    assert "leading" in world.ai_projects and {"us", "prc"} <= set(world.nations)
    assert torch.all(world.time == 2012.0)
    d = StateDerivative.zeros_like(world) + StateDerivative(world)
    assert torch.equal(d.to_state_tensor(), world.to_state_tensor())


def test_stack_over_time():
    frames = [make(2) for _ in range(5)]
    stacked = TensorDataclass.stack(frames)
    assert stacked.leaves["z"].a.shape == (2, 5)
    assert torch.equal(stacked.leaves["z"].a[:, 3], frames[3].leaves["z"].a)
