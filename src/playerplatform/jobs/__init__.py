"""Durable jobs: a transactional outbox in the database, relayed to RabbitMQ in production
or run by an in-process worker in the embedded shape; the scheduler; the admin routes.

Domain code needs only `enqueue` and `JobRun`; the composition root (`playerplatform.wiring`)
declares each domain's handlers (`JobHandler`) and periodic work (`Schedule`).
"""

from playerplatform.jobs.registry import QUEUES, JobHandler, JobRun, Schedule
from playerplatform.jobs.service import enqueue

__all__ = ["QUEUES", "JobHandler", "JobRun", "Schedule", "enqueue"]
