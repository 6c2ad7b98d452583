"""The Keras side: loading models, graph helpers, batch-norm folding, cross-layer equalization, stress variants, the zoo."""
