"""Shipped livegen weights (installed as the ``livegen_models`` package)."""
