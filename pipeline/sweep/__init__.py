"""`wess sweep`: models x schemes x calibrators x targets, one deploy + score per cell, sequentially or on Ray."""
