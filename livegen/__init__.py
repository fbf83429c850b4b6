"""livegen: a live-performance LSTM that jams with a musician."""

__version__ = "0.1.0"
