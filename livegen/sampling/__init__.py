"""Sampling policy outside the nets: constraints, Bernoulli, NADE walk, categorical."""
