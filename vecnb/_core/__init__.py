"""Core: Arrow vector columns, exact metrics / top-k, ``where`` filters, atomic checksummed storage.

Used by every other layer; imports nothing of vecnb but :mod:`vecnb.errors` and itself.
"""
