"""Pack/unpack round trips of nested worlds: the one state layout."""

from dataclasses import dataclass, field

import torch

from sim.parameters import Actors
from sim.world import StateLayout, TensorDataclass, World, metric_field, state_field


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


def test_layout_packs_derivative_dicts_with_zeros_for_absent_fields():
    node = make()
    layout = StateLayout.of(node)
    y = layout.pack({"x": torch.ones(4, dtype=torch.float64), "child.b": torch.full((4,), 3.0, dtype=torch.float64)})
    assert y[:, 0].eq(1).all() and y[:, layout.columns("child.b")].eq(3).all()
    assert y[:, 1:5].eq(0).all() and y[:, layout.columns("child.a")].eq(0).all()
    try:
        layout.pack({"child.m": torch.ones(4, dtype=torch.float64)})  # a metric is not state
    except ValueError as err:
        assert "child.m" in str(err)
    else:
        raise AssertionError("packing a non-state path must raise")


@dataclass
class Table(TensorDataclass):
    ids: tuple = ()
    s: torch.Tensor = state_field()
    m: torch.Tensor = metric_field()


def test_actor_tables_take_one_column_per_actor():
    table = Table(ids=("a", "b", "c"), s=torch.arange(6, dtype=torch.float64).reshape(2, 3))
    layout = StateLayout.of(table)
    assert layout.width == 3 and layout.columns("s") == slice(0, 3)
    back = table.from_state_tensor(table.to_state_tensor() * 2)
    assert torch.equal(back.s, 2 * table.s) and back.ids == ("a", "b", "c")


def test_wrong_width_is_an_error():
    node = make()
    try:
        node.from_state_tensor(torch.zeros(4, 5, dtype=torch.float64))
    except ValueError as err:
        assert "columns" in str(err)
    else:
        raise AssertionError("expected ValueError")


def test_world_takes_its_actors_from_the_scenario():
    actors = Actors(nations=("us", "eu"), projects=("a", "b", "c"), owners=("us", "eu", "us"), reference="a")
    world = World.empty(3, 2012.0, actors)
    assert world.nations.ids == ("us", "eu") and world.ai_projects.ids == ("a", "b", "c")
    assert world.ai_projects.owner == (0, 1, 0)
    assert torch.all(world.time == 2012.0)


def test_stack_over_time():
    frames = [make(2) for _ in range(5)]
    stacked = TensorDataclass.stack(frames)
    assert stacked.leaves["z"].a.shape == (2, 5)
    assert torch.equal(stacked.leaves["z"].a[:, 3], frames[3].leaves["z"].a)
