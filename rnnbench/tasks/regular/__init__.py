"""Regular tasks of Delétang et al. (2023): a finite automaton solves each."""
