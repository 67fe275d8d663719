"""Durable jobs: a transactional outbox in the database, relayed to RabbitMQ in production
or run by an in-process worker in the embedded shape; the scheduler; the admin routes.

Domain code needs only `enqueue`, `job_handler`, `scheduled` and `JobRun`.
"""

from playerplatform.jobs.registry import QUEUES, JobRun, job_handler, scheduled
from playerplatform.jobs.service import enqueue

__all__ = ["QUEUES", "JobRun", "enqueue", "job_handler", "scheduled"]
