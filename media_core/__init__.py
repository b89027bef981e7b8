"""Real-time media core: frames, overlays, stamps, relays and compositors.

Pure asyncio + aiortc + PyAV + numpy + OpenCV. Never imports Django or the apps
(a test enforces it); overlays plug in through ``media_core.layers.Layer``.
"""
