"""Who each step of a page's escalation pages."""
from paging.escalation import Target, plan

ONE, TWO, THREE = (Target("provider", i, f"+1617555012{i}") for i in (1, 2, 3))
MO, LEE = Target("manager", 8, "+13125550108"), Target("manager", 9, "+13125550109")


def test_given_providers_then_the_first_twice_then_each_next_then_the_managers():
    assert plan([ONE, TWO, THREE], [MO, LEE]) == [[ONE], [ONE], [TWO], [THREE], [MO, LEE]]


def test_given_one_provider_then_it_twice_then_the_managers():
    assert plan([ONE], [MO]) == [[ONE], [ONE], [MO]]


def test_given_no_provider_then_the_managers_at_once():
    assert plan([], [MO]) == [[MO]]
    assert plan([], []) == [[]]  # a step that pages nobody: logged as "no-one", critically
