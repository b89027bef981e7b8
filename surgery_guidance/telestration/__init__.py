"""Pure annotation schema, geometry, rasteriser and tracking (no Django, no asyncio)."""
