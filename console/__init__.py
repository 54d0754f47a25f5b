"""The staff console: IESS staff receive, analyse and resolve cases (see console/app.py)."""
