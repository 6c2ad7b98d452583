"""The C reference runner from Python: fixed-point kernel parameters, the compact blob, memory plan, ctypes binding, verification."""
