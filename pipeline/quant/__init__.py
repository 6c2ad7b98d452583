"""Quantization: calibrators, the TFLite converter, the WESS maths and rewrite, bias correction, schemes, sensitivity."""
