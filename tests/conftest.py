"""Session fixtures of the real local stack, shared by every test directory so that one
pytest session starts one Airflow of each version, one SeaweedFS and one moto server at most."""

from tests.integration.airflow_fixtures import *  # noqa: F403
from tests.integration.api_fixtures import *  # noqa: F403
from tests.integration.storage_fixtures import *  # noqa: F403
from tests.release import pytest_configure, pytest_runtest_setup  # noqa: F401 - hooks
