"""Deterministic context-free tasks of Delétang et al. (2023): a stack solves each."""
