"""The census's ceiling reference: a plain FastAPI application with one JSON route and nothing
else (no middleware, no database), served like the platform (same server, 2 workers)."""

from fastapi import FastAPI

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/plain")
async def plain() -> dict[str, str]:
    return {"status": "ok"}
