"""Reusable terminal widgets: they render backend.core models and hold no broker code."""
