from tests.jobs.conftest import broker_url

__all__ = ["broker_url"]
