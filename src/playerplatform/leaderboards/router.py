"""HTTP routes of the leaderboards domain (every path, /api/v1 relative, admin and moderation included)."""

from fastapi import APIRouter

router = APIRouter()
