"""HTTP routes of the ugc domain (every path, /api/v1 relative, admin and moderation included)."""

from fastapi import APIRouter

router = APIRouter()
