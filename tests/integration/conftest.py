"""Session fixtures that start the real local stack on 127.0.0.1 (Airflow, SeaweedFS, moto)."""

from tests.integration.airflow_fixtures import *  # noqa: F403
from tests.integration.api_fixtures import *  # noqa: F403
from tests.integration.storage_fixtures import *  # noqa: F403
