"""PyQt6 desktop terminal (the GUI layer).

The frontend renders state and forwards user intent to ``backend.core``; it holds no broker
protocol code and never imports ``ib_insync``, so the UI can be exercised offscreen against
fakes and the IB client can change without touching a widget.
"""
