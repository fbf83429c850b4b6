"""Pure music code (numpy, pretty_midi): rolls, notes, scales, ABC. No ports, no asyncio."""
