"""Brain factories; rows follow their project's network."""

from __future__ import annotations

import factory

from apps.brain.models import ProjectDecision, ProjectMilestone
from tests.projects.factories import ProjectFactory


class ProjectDecisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProjectDecision

    project = factory.SubFactory(ProjectFactory)
    network = factory.SelfAttribute("project.network")
    number = factory.Sequence(lambda n: n + 1)
    title = factory.Sequence(lambda n: f"Decision {n}")
    context = "We need to pick something."
    decision = "We pick the boring option."
    consequences = "Less excitement."
    status = "proposed"


class ProjectMilestoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProjectMilestone

    project = factory.SubFactory(ProjectFactory)
    network = factory.SelfAttribute("project.network")
    title = factory.Sequence(lambda n: f"Milestone {n}")
    status = "planned"
