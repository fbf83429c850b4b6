"""Real-time engine: clocks, controls, the asyncio loop. Ports and clocks are injected."""
