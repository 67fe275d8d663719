"""Admin routes for jobs: list them by queue and status, retry a dead one."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from playerplatform.auth.deps import Principal, rate_limit, require_role
from playerplatform.jobs import service
from playerplatform.jobs.schemas import JobOut, JobPageKey
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import TransactionalRoute, client_info, get_uow
from playerplatform.kit.pagination import Page, PageParams, page_params, paginate

router = APIRouter(
    prefix="/admin/jobs",
    tags=["admin"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)


@router.get("", response_model=Page[JobOut])
async def list_jobs(
    queue: str | None = Query(None, max_length=64),
    status: Literal["pending", "running", "done", "dead"] | None = Query(None),
    page: PageParams = Depends(page_params),
    _admin: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[JobOut]:
    rows = await service.list_jobs(
        uow, queue=queue, status=status, limit=page.limit, cursor=page.cursor
    )
    return paginate(
        rows, page.limit, lambda j: JobPageKey(t=j.created_at, i=j.public_id), JobOut.of
    )


@router.post("/{job_id}/retry", response_model=JobOut)
async def retry_job(
    request: Request,
    job_id: str = Path(min_length=1, max_length=32),
    admin: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> JobOut:
    job = await service.retry_dead_job(uow, job_id, actor=admin, client=client_info(request))
    return JobOut.of(job)
