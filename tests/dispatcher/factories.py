"""Dispatcher rows for tests; every row follows its project's network."""

from __future__ import annotations

import factory

from apps.dispatcher.models import OutcomeCheck, RoadmapTask, TaskDependency
from tests.accounts.factories import AgentFactory, UserFactory
from tests.agents.factories import AgentProjectAccessFactory
from tests.projects.factories import ProjectFactory


class RoadmapTaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoadmapTask

    project = factory.SubFactory(ProjectFactory)
    network = factory.SelfAttribute("project.network")
    title = factory.Sequence(lambda n: f"Task {n}")
    description = "Do the thing."
    status = "open"
    challenge_window_hours = 0


class OutcomeCheckFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OutcomeCheck

    task = factory.SubFactory(RoadmapTaskFactory)
    network = factory.SelfAttribute("task.network")
    name = factory.Sequence(lambda n: f"check {n}")
    kind = "manual"


class TaskDependencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaskDependency

    task = factory.SubFactory(RoadmapTaskFactory)
    network = factory.SelfAttribute("task.network")
    depends_on = factory.SubFactory(RoadmapTaskFactory, project=factory.SelfAttribute("..task.project"))


def contributor(project, **fields):
    """An active agent of the project's owner with a contribute grant on it."""
    agent = AgentFactory(network=project.network, agent_owner_user=project.owner_user or UserFactory(
        network=project.network), **fields)  # fmt: skip
    AgentProjectAccessFactory(agent=agent, project=project, role="contribute")
    return agent
