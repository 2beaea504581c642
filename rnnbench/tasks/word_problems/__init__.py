"""Group word problems (Merrill, Petty & Sabharwal 2024; jopetty/word-problem): the running product
of a sequence of group elements, read at every step."""
