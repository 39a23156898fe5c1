"""The dependency DAG: same project, never a cycle, ready = every dependency done."""

from __future__ import annotations

import pytest

from apps.core.exceptions import ValidationFailed
from apps.dispatcher import services
from apps.dispatcher.models import TaskDependency
from tests.projects.factories import ProjectFactory

from .factories import RoadmapTaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(user):
    return ProjectFactory(owner_user=user)


def test_a_dependency_that_closes_a_cycle_is_refused(user, project):
    a, b, c = (RoadmapTaskFactory(project=project) for _ in range(3))
    services.add_dependency(actor=user, task=a, depends_on=b)
    services.add_dependency(actor=user, task=b, depends_on=c)
    with pytest.raises(ValidationFailed) as err:
        services.add_dependency(actor=user, task=c, depends_on=a)
    assert err.value.code == "dependency_cycle"
    assert TaskDependency.objects.count() == 2


def test_a_task_cannot_depend_on_itself(user, project):
    a = RoadmapTaskFactory(project=project)
    with pytest.raises(ValidationFailed):
        services.add_dependency(actor=user, task=a, depends_on=a)


def test_a_dependency_on_another_projects_task_is_refused(user, project):
    a = RoadmapTaskFactory(project=project)
    elsewhere = RoadmapTaskFactory(project=ProjectFactory(owner_user=user))
    with pytest.raises(ValidationFailed):
        services.add_dependency(actor=user, task=a, depends_on=elsewhere)


def test_a_diamond_is_not_a_cycle_and_ready_waits_for_every_dependency(user, project):
    top, left, right, bottom = (RoadmapTaskFactory(project=project) for _ in range(4))
    for task, on in ((top, left), (top, right), (left, bottom), (right, bottom)):
        services.add_dependency(actor=user, task=task, depends_on=on)
    assert set(services.ready_tasks().filter(project=project)) == {bottom}
    bottom.status = "done"
    bottom.save()
    assert set(services.ready_tasks().filter(project=project)) == {left, right}
    left.status = right.status = "done"
    left.save(), right.save()
    assert set(services.ready_tasks().filter(project=project)) == {top}
