/* MathJax is not bundled: the few formulas in docstrings stay as TeX source (no CDN is reachable). */
