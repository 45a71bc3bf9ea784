"""Who may act on whom: the rule behind every /api endpoint that names an agent."""
from __future__ import annotations

import pytest

from agents.users import ApiUser, answers_for, may_act_on

LAKESIDE, NORTHSIDE = 1, 2


def user(id: int, role: str, *practice_ids: int, every: bool = False) -> ApiUser:
    return ApiUser(id=id, email=f"u{id}@example.org", name=f"U{id}", role=role, all_practices=every,
                   practice_ids=frozenset(practice_ids), practice_slugs=())


@pytest.mark.parametrize("actor, target, allowed", [
    (user(1, "agent", LAKESIDE), user(1, "agent", LAKESIDE), True),  # oneself
    (user(1, "agent", LAKESIDE), user(2, "agent", LAKESIDE), False),  # a colleague
    (user(1, "agent", every=True), user(2, "agent", LAKESIDE), False),
    (user(1, "manager", LAKESIDE), user(2, "agent", LAKESIDE, NORTHSIDE), True),  # one practice in common
    (user(1, "manager", LAKESIDE), user(2, "agent", NORTHSIDE), False),
    (user(1, "manager", LAKESIDE), user(2, "agent"), False),  # an agent of no practice
    (user(1, "manager", LAKESIDE), user(2, "manager", LAKESIDE), False),  # not another manager
    (user(1, "manager", LAKESIDE), user(2, "admin", LAKESIDE), False),
    # "*" is expanded at load time; the flag alone still counts (a practice created after the load).
    (user(1, "manager", LAKESIDE), user(2, "agent", every=True), True),
    (user(1, "manager", every=True), user(2, "agent", NORTHSIDE), True),
    (user(1, "manager", every=True), user(2, "agent", every=True), True),
    (user(1, "manager", every=True), user(2, "agent"), False),
    (user(1, "manager"), user(2, "agent", every=True), False),  # a manager of no practice manages nobody
    (user(1, "admin"), user(2, "manager", NORTHSIDE), True),
    (user(1, "admin"), user(2, "admin"), True),
])
def test_may_act_on(actor, target, allowed):
    assert may_act_on(actor, target) is allowed


@pytest.mark.parametrize("viewer, practice_id, allowed", [
    (user(1, "agent", LAKESIDE), LAKESIDE, True),
    (user(1, "agent", LAKESIDE), NORTHSIDE, False),
    (user(1, "agent", every=True), NORTHSIDE, True),  # "*": also a practice created after the load
    (user(1, "manager", NORTHSIDE), LAKESIDE, False),
    (user(1, "manager", NORTHSIDE), NORTHSIDE, True),
    (user(1, "admin"), LAKESIDE, True),  # an admin sees every practice, listed or not
    (user(1, "agent"), LAKESIDE, False),
])
def test_answers_for(viewer, practice_id, allowed):
    assert answers_for(viewer, practice_id) is allowed
