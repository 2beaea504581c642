"""Context-sensitive tasks of Delétang et al. (2023): a linear-bounded automaton (a tape) solves each."""
