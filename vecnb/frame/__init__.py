"""Frames: what a DataFrame's embedding columns are (``df.attrs``), text values, content hashes,
result frames. Imports only :mod:`vecnb._core` and :mod:`vecnb.errors`.
"""
