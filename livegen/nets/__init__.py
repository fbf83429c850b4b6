"""Pure torch networks: no ports, no clocks, no asyncio."""
