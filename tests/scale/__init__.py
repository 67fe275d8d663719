"""Suites of `make test`'s third run only (scripts/test.sh): a master failover on the local
Redis Cluster, and the soak through faults of every store. They need the cluster
(PP_TEST_REDIS_CLUSTER_URL) and take longer than a test of the two main runs, so only that run
collects them (`collect_ignore` in tests/conftest.py)."""
