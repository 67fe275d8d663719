from playerplatform.runtime import Runtime


async def ensure_bootstrap_admin(runtime: Runtime) -> None:
    return None
