from fastapi import APIRouter

from playerplatform.kit.http import TransactionalRoute

router = APIRouter(route_class=TransactionalRoute)
