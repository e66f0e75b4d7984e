import pytest

from events import services


@pytest.fixture
def project(db):
    return services.create_project(name="Shop", slug="shop", services=["checkout", "api"])


@pytest.fixture
def project_key(project):
    return project.active_key().public_key
