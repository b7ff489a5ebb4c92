"""Segmentation training and real-versus-synthetic studies (the trainer lands with issue 6).

This package is the home ARCHITECTURE.md gives it; it holds no code yet.
"""
