"""Who a practice's urgent after-hours messages page, checked when a configuration is loaded.

Every practice's after-hours menu takes urgent messages (press 1), and each pages `paging.escalation.plan`:
the on-call providers, then the practice's managers with a phone. A practice with no `[[practices.on_call]]`
loads with a warning naming it and the managers its pages go to; one with neither is refused, so that no
urgent message ever pages nobody. Read after `apply_config` wrote the file, in its transaction, so that the
managers are those of the database (the file's and any it leaves as they were).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Agent, Practice, agent_practices
from practices.loader import ConfigSpec


@dataclass
class PagingCoverage:
    """Warnings (practices whose pages go to their managers) and problems (practices that would page nobody)."""

    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def paging_coverage(session: Session, spec: ConfigSpec) -> PagingCoverage:
    """Check who each practice of `spec` without an on-call provider pages."""
    coverage = PagingCoverage()
    for practice in spec.practices:
        if practice.on_call:
            continue
        managers = session.scalars(
            select(Agent.name).join(agent_practices, agent_practices.c.agent_id == Agent.id)
            .join(Practice, Practice.id == agent_practices.c.practice_id)
            .where(Practice.slug == practice.slug, Agent.role == "manager", Agent.phone.is_not(None),
                   Agent.deactivated_at.is_(None))  # after apply_config: the file's people only
            .order_by(Agent.id)).all()
        where = f"practices ({practice.slug}).on_call"
        if managers:
            coverage.warnings.append(
                f"{where}: {practice.name} has no on-call provider ([[practices.on_call]]); its urgent after-hours "
                f"messages page its managers instead: {', '.join(managers)}")
        else:
            coverage.problems.append(
                f"{where}: {practice.name} has no on-call provider ([[practices.on_call]]) and no manager with a "
                "phone, so its urgent after-hours messages would page nobody; add a [[practices.on_call]] entry "
                "or an agent with role = \"manager\" and a phone for this practice")
    return coverage
